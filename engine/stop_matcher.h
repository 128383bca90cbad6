// Streams generated text while watching for stop strings: text that could still be the
// start of a stop string is held back; a completed stop string ends the stream and is
// never emitted.
#pragma once
#include <string>
#include <vector>

namespace petrel {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Appends `piece`; returns the text that is now final (may be empty).
  std::string push(const std::string& piece);
  // Returns whatever is still held back (call when generation ends without a stop).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace petrel
