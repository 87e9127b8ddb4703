// Errors as values for the tokenizer (STYLE.md §5): one line that says what
// failed and where (a JSON path such as `model.merges[12]`, or the input).
#pragma once

#include <string>

#include "hix/expected.hpp"

namespace hix::tok {

struct Error {
  std::string message;
};

template <class T>
using Result = hix::Expected<T, Error>;

struct Unit {};
using Check = Result<Unit>;

inline Error fail(std::string message) {
  return Error{std::move(message)};
}

}  // namespace hix::tok
