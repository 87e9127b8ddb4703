// Errors as values for the model compiler: a value or a human-readable
// reason (checkpoints and configs are untrusted files; a bad one is a
// message, never an abort).
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "hix/expected.hpp"

namespace hix::model {

struct Error {
  std::string why;
};

struct Unit {};

template <class T>
class [[nodiscard]] Result : public hix::Expected<T, Error> {
 public:
  using hix::Expected<T, Error>::Expected;
  // The reason; empty when ok.
  const std::string& why() const {
    static const std::string none;
    return this->ok() ? none : this->error().why;
  }
};

using Check = Result<Unit>;

inline Error fail(std::string why) {
  return Error{std::move(why)};
}

}  // namespace hix::model
