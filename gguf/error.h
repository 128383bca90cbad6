// The project's one error type. Library code throws petrel::Error with a message that
// names the file, tensor or key, the byte offset, and expected vs actual; it never prints
// and never exits.
#pragma once
#include <stdexcept>
#include <string>

namespace petrel {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace petrel
