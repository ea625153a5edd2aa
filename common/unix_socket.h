#pragma once

#include <string>

namespace meshtrace {

// Connects to the Unix stream socket at `path` (blocking, close-on-exec). Returns the file
// descriptor, or -1 with errno set (a path of 108 bytes or more is ENAMETOOLONG).
int DialUnixSocket(const std::string& path);

}  // namespace meshtrace
