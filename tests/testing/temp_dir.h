#pragma once

#include <string>

namespace meshtrace::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
// Short paths: Unix socket paths must stay under 108 bytes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace meshtrace::testing
