#pragma once

namespace meshtrace {

// Whether a TCP port on 127.0.0.1 can be bound now (nothing listens on it or holds it).
bool LoopbackPortFree(int port);

}  // namespace meshtrace
