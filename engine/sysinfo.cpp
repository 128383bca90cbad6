// Process facts the engine reports (peak RSS).
#include <sys/resource.h>

#include "petrel/petrel.h"

namespace petrel {

uint64_t peak_rss_bytes() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace petrel
