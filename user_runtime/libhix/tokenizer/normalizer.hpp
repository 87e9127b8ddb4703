// Unicode normalization forms (UAX #15) for the tokenizer's `normalizer`:
// NFC, NFD, NFKC and NFKD, through ICU.
#pragma once

#include <string>
#include <string_view>

#include "error.hpp"

namespace hix::tok {

enum class NormalForm : unsigned char { nfc, nfd, nfkc, nfkd };

// `text` (valid UTF-8) in the given form.
[[nodiscard]] Result<std::string> normalize(NormalForm form, std::string_view text);

}  // namespace hix::tok
