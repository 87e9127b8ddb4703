// UAX #15 normalization through ICU's Normalizer2, on UTF-8 directly. ASCII
// text is in every form already and skips ICU.
#include "normalizer.hpp"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

namespace hix::tok {
namespace {

const icu::Normalizer2* instance(NormalForm form, UErrorCode& status) {
  switch (form) {
    case NormalForm::nfc:
      return icu::Normalizer2::getNFCInstance(status);
    case NormalForm::nfd:
      return icu::Normalizer2::getNFDInstance(status);
    case NormalForm::nfkc:
      return icu::Normalizer2::getNFKCInstance(status);
    case NormalForm::nfkd:
      return icu::Normalizer2::getNFKDInstance(status);
  }
  return nullptr;
}

bool ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

Result<std::string> normalize(NormalForm form, std::string_view text) {
  if (ascii(text)) return std::string(text);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = instance(form, status);
  if (U_FAILURE(status) || n == nullptr) {
    return fail(std::string("normalizer: ICU has no such form: ") + u_errorName(status));
  }
  const icu::StringPiece in(text.data(), static_cast<std::int32_t>(text.size()));
  if (n->isNormalizedUTF8(in, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<std::int32_t>(text.size()));
  n->normalizeUTF8(0, in, sink, nullptr, status);
  if (U_FAILURE(status)) return fail(std::string("normalizer: ICU failed: ") + u_errorName(status));
  return out;
}

}  // namespace hix::tok
