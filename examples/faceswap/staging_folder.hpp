// StagingFolder: a new output folder that appears only when it is complete.
//
// extract and swap write many files; an interrupted or failed run must not
// leave a folder that looks finished. They write into
// "<output>.partial-<pid>" beside the output and rename it into place at the
// end; if the object is destroyed first (an error), the partial folder goes.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <graft/core/error.hpp>
#include <string>

namespace faceswap {

// Throws naming `output` when it exists and is not an empty folder.
inline void check_new_output(const std::filesystem::path& output, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::exists(output, ec))
    graft::check(std::filesystem::is_directory(output, ec) && std::filesystem::is_empty(output, ec), output.string(),
                 ": exists and is not an empty folder; ", what, " writes a new folder and never mixes its files into another");
}

// A folder beside the output that is removed unless commit() renames it into place.
class StagingFolder {
 public:
  explicit StagingFolder(const std::filesystem::path& output) : output_(output) {
    const std::filesystem::path parent = std::filesystem::absolute(output).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    graft::check(!ec, parent.string(), ": cannot create the output's parent folder: ", ec.message());
    path_ = parent / (output.filename().string() + ".partial-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_, ec);
    graft::check(std::filesystem::create_directory(path_, ec) && !ec, path_.string(), ": cannot create the output (",
                 ec.message(), "); is ", parent.string(), " writable?");
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  ~StagingFolder() {
    if (committed_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  void commit() {
    std::error_code ec;
    if (std::filesystem::exists(output_, ec)) std::filesystem::remove(output_, ec);  // checked empty before we began
    std::filesystem::rename(path_, output_, ec);
    graft::check(!ec, output_.string(), ": cannot move the finished face set into place: ", ec.message());
    committed_ = true;
  }

 private:
  std::filesystem::path output_, path_;
  bool committed_ = false;
};

}  // namespace faceswap
