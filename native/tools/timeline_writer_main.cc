// hvd-timeline: the process that writes HOROVOD_TIMELINE's trace for rank 0
// (native/timeline_writer.h). Started by the engine with the socket as fd 3
// and the trace as fd 4; its one argument is where the trace's closing "]"
// starts. Not meant to be run by hand.
#include <cstdio>
#include <cstdlib>

#include "timeline_writer.h"

int main(int argc, char** argv) {
  char* end = nullptr;
  long long at = argc == 2 ? std::strtoll(argv[1], &end, 10) : -1;
  if (argc != 2 || end == argv[1] || *end != '\0' || at < 2) {
    std::fprintf(stderr, "hvd-timeline: started by hvd (HOROVOD_TIMELINE), not by hand\n");
    return 2;
  }
  return hvd::core::RunTimelineWriter(3, 4, static_cast<off_t>(at));
}
