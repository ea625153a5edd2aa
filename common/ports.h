#pragma once

namespace meshtrace {

// Whether a TCP port on 127.0.0.1 can be bound now with SO_REUSEADDR, as servers bind: nothing
// listens on it (a connection in TIME_WAIT does not count).
bool LoopbackPortFree(int port);

}  // namespace meshtrace
