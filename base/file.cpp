#include "base/file.h"

#include <cstdio>
#include <fstream>

namespace hilq {

std::string write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return path + ": cannot open " + tmp + " for writing";
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return path + ": write failed (" + tmp + ")";
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return path + ": cannot rename " + tmp + " over it";
  }
  return {};
}

}  // namespace hilq
