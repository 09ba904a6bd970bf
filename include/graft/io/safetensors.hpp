// safetensors: the tensor container graft's checkpoints are written in.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON giving each tensor's dtype, shape and byte range in the data section
// (plus a "__metadata__" map of strings), then the data section. Python
// (`safetensors`, `torch`), Rust and graft all read it without executing
// anything, so a checkpoint can be inspected or converted with ordinary tools.
//
// The reader trusts nothing: every length, offset and size is checked before
// a byte of data is used, the tensors must tile the data section exactly (as
// the reference implementation demands), and each failure is a graft::Error
// naming the file and the tensor. Files graft writes carry a CRC-32 in
// "graft.checksum" over the header and the data (see header_crc), which
// the reader verifies whenever it is present.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/checksum.hpp"

namespace graft::io {

static_assert(std::endian::native == std::endian::little,
              "graft::io: safetensors data is little-endian and graft copies it as is");

using Metadata = std::map<std::string, std::string>;

// Bytes per element of a safetensors dtype ("F32", "BF16", ...); 0 for a name
// that is not a safetensors dtype.
constexpr std::size_t safetensors_dtype_size(std::string_view dtype) {
  constexpr std::pair<std::string_view, std::size_t> known[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  for (const auto& [name, size] : known)
    if (name == dtype) return size;
  return 0;
}

// "(2, 3)", as graft::to_string(Shape) writes shapes.
inline std::string shape_text(std::span<const std::int64_t> shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

// One tensor of a file being read: where its bytes are in the data section.
struct TensorInfo {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

// One tensor to write; `bytes` must hold exactly shape * dtype size bytes.
struct TensorBytes {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

inline TensorBytes f32_tensor(std::string name, std::vector<std::int64_t> shape, std::span<const float> values) {
  return {std::move(name), "F32", std::move(shape), std::as_bytes(values)};
}

namespace detail {

// The reference implementation's bound; a larger header is a damaged length.
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

template <class... Parts>
[[noreturn]] void fail_in(const std::filesystem::path& path, Parts&&... parts) {
  fail(path.string(), ": ", std::forward<Parts>(parts)...);
}

// shape * dtype size in bytes, or nothing when a negative extent or an
// overflow makes it meaningless.
inline std::optional<std::uint64_t> byte_size(std::span<const std::int64_t> shape, std::size_t dtype_size) {
  std::uint64_t bytes = dtype_size;
  for (const auto extent : shape)
    if (extent < 0 || __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(extent), &bytes)) return std::nullopt;
  return bytes;
}

// The header as the checksum sees it: without the checksum itself, and
// without "__metadata__" when nothing else is left in it.
inline nlohmann::json without_checksum(nlohmann::json header) {
  if (auto it = header.find("__metadata__"); it != header.end()) {
    it->erase(std::string(checksum_key));
    if (it->empty()) header.erase(it);
  }
  return header;
}

struct FileBytes {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;
  std::span<const std::byte> span() const { return {data.get(), size}; }
};

inline FileBytes read_whole_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail_in(path, "cannot open: ", system_message(errno));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail_in(path, "cannot stat: ", system_message(errno));
  if (!S_ISREG(info.st_mode)) fail_in(path, "not a regular file");
  FileBytes file{std::unique_ptr<std::byte[]>(new std::byte[static_cast<std::size_t>(info.st_size)]),
                 static_cast<std::size_t>(info.st_size)};
  std::size_t at = 0;
  while (at < file.size) {
    const ssize_t got = ::read(fd.get(), file.data.get() + at, file.size - at);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_in(path, "cannot read: ", system_message(errno));
    if (got == 0) fail_in(path, "the file shrank from ", file.size, " to ", at, " bytes while being read");
    at += static_cast<std::size_t>(got);
  }
  return file;
}

}  // namespace detail

// The checksum covers a file's contents with the checksum taken out: the
// header JSON without "graft.checksum" (and without "__metadata__" if that
// empties it), dumped compactly with sorted keys, then the data section. This
// returns the CRC of that header text, to be continued over the data. Python:
//   h = json.loads(header); del h["__metadata__"]["graft.checksum"]  # and the map if now empty
//   zlib.crc32(data, zlib.crc32(json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()))
inline std::uint32_t header_crc(const nlohmann::json& header_without_checksum) { return crc32(header_without_checksum.dump()); }

// Writes tensors (data in the given order) and metadata atomically, adding
// "graft.checksum". Every tensor is checked before the file is touched.
inline void write_safetensors(const std::filesystem::path& path, std::span<const TensorBytes> tensors, Metadata metadata = {}) {
  metadata.erase(std::string(checksum_key));
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::size_t element = safetensors_dtype_size(t.dtype);
    if (element == 0) detail::fail_in(path, "tensor '", t.name, "': unknown dtype '", t.dtype, "'");
    if (t.name == "__metadata__" || header.contains(t.name))
      detail::fail_in(path, "tensor name '", t.name, "' is used twice or reserved");
    const auto expected = detail::byte_size(t.shape, element);
    if (!expected || *expected != t.bytes.size())
      detail::fail_in(path, "tensor '", t.name, "' has ", t.bytes.size(), " bytes, but shape ", shape_text(t.shape), " of ",
                      t.dtype, " needs ", expected ? std::to_string(*expected) : std::string("an impossible size"));
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string header_text;
  try {
    std::uint32_t crc = header_crc(header);
    for (const auto& t : tensors) crc = crc32(t.bytes, crc);
    header["__metadata__"][std::string(checksum_key)] = checksum_text(crc);
    header_text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    detail::fail_in(path, "cannot write the header (names and metadata must be UTF-8): ", e.what());
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // as the reference writer pads

  std::uint64_t length = header_text.size();
  AtomicFile file(path);
  file.write(std::as_bytes(std::span(&length, 1)));
  file.write(std::as_bytes(std::span(header_text.data(), header_text.size())));
  for (const auto& t : tensors) file.write(t.bytes);
  file.commit();
}

// A safetensors file read into memory and validated.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::filesystem::path path) : path_(std::move(path)), file_(detail::read_whole_file(path_)) {
    const nlohmann::json header = parse_header();
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__")
        read_metadata(value);
      else
        tensors_.push_back(read_tensor(key, value));
    }
    check_tiling();
    verify_checksum(header);
  }

  const std::filesystem::path& path() const { return path_; }
  // Ordered by position in the data section.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const Metadata& metadata() const { return metadata_; }
  bool has_checksum() const { return metadata_.contains(std::string(checksum_key)); }

  const TensorInfo* find(std::string_view name) const {
    const auto it = std::find_if(tensors_.begin(), tensors_.end(), [&](const TensorInfo& t) { return t.name == name; });
    return it == tensors_.end() ? nullptr : &*it;
  }

  std::span<const std::byte> bytes(const TensorInfo& tensor) const {
    return data_section().subspan(tensor.begin, tensor.end - tensor.begin);
  }

  // The values of an F32 tensor.
  std::vector<float> f32_values(std::string_view name) const {
    const TensorInfo* t = find(name);
    if (!t) detail::fail_in(path_, "no tensor named '", name, "'");
    if (t->dtype != "F32") detail::fail_in(path_, "tensor '", name, "' is ", t->dtype, ", not F32");
    std::vector<float> values((t->end - t->begin) / sizeof(float));
    std::memcpy(values.data(), bytes(*t).data(), t->end - t->begin);
    return values;
  }

  std::span<const std::byte> data_section() const { return file_.span().subspan(data_start_); }

 private:
  template <class... Parts>
  [[noreturn]] void bad(Parts&&... parts) const {
    detail::fail_in(path_, std::forward<Parts>(parts)...);
  }

  nlohmann::json parse_header() {
    const auto all = file_.span();
    if (all.size() < 8)
      bad("the file is ", all.size(),
          " bytes, too short for the 8-byte safetensors header length; it is truncated or not safetensors");
    std::uint64_t length = 0;
    std::memcpy(&length, all.data(), 8);
    if (length > all.size() - 8)
      bad("the header length ", length, " runs past the end of the file (", all.size(),
          " bytes); it is truncated or not safetensors");
    if (length > detail::max_header_bytes) bad("the header length ", length, " is beyond the safetensors limit of 100 MB");
    data_start_ = 8 + static_cast<std::size_t>(length);
    const auto* text = reinterpret_cast<const char*>(all.data()) + 8;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, text + length);
    } catch (const nlohmann::json::exception& e) {
      bad("the header is not valid JSON: ", e.what());
    }
    if (!header.is_object()) bad("the header is not a JSON object");
    return header;
  }

  void read_metadata(const nlohmann::json& value) {
    if (!value.is_object()) bad("\"__metadata__\" is not a JSON object");
    for (const auto& [key, entry] : value.items()) {
      if (!entry.is_string()) bad("metadata entry '", key, "' is not a string");
      metadata_[key] = entry.get<std::string>();
    }
  }

  TensorInfo read_tensor(const std::string& name, const nlohmann::json& value) const {
    if (!value.is_object()) bad("tensor '", name, "': the entry is not a JSON object");
    TensorInfo t{name, {}, {}, 0, 0};
    const auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string()) bad("tensor '", name, "': \"dtype\" is missing or not a string");
    t.dtype = dtype->get<std::string>();
    const std::size_t element = safetensors_dtype_size(t.dtype);
    if (element == 0) bad("tensor '", name, "': unknown dtype '", t.dtype, "'");

    const auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array()) bad("tensor '", name, "': \"shape\" is missing or not an array");
    for (const auto& extent : *shape) {
      if (!extent.is_number_unsigned() || extent.get<std::uint64_t>() > std::uint64_t{INT64_MAX})
        bad("tensor '", name, "': shape ", shape->dump(), " has an entry that is not a non-negative integer");
      t.shape.push_back(extent.get<std::int64_t>());
    }

    const auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      bad("tensor '", name, "': \"data_offsets\" must be two non-negative integers [begin, end]");
    t.begin = (*offsets)[0].get<std::uint64_t>();
    t.end = (*offsets)[1].get<std::uint64_t>();
    if (t.begin > t.end) bad("tensor '", name, "': data_offsets [", t.begin, ", ", t.end, "] end before they begin");

    const auto expected = detail::byte_size(t.shape, element);
    if (!expected || *expected != t.end - t.begin)
      bad("tensor '", name, "': data_offsets [", t.begin, ", ", t.end, "] hold ", t.end - t.begin, " bytes, but shape ",
          shape_text(t.shape), " of ", t.dtype, " needs ",
          expected ? std::to_string(*expected) : std::string("an impossible size"));
    return t;
  }

  // Tensors must cover the data section exactly once, in some order.
  void check_tiling() {
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    const std::uint64_t size = data_section().size();
    for (const auto& t : tensors_)
      if (t.end > size)
        bad("tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] run past the end of the data section (", size,
            " bytes); the file is truncated");
    std::uint64_t covered = 0;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      if (t.begin < covered)
        bad("tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] overlap tensor '", tensors_[i - 1].name, "'");
      if (t.begin > covered)
        bad("tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, "] leave bytes [", covered, ", ", t.begin,
            ") of the data section unused");
      covered = t.end;
    }
    if (covered != size) bad("bytes [", covered, ", ", size, ") at the end of the data section belong to no tensor");
  }

  void verify_checksum(const nlohmann::json& header) const {
    const auto stored = metadata_.find(std::string(checksum_key));
    if (stored == metadata_.end()) return;
    const auto expected = parse_checksum_text(stored->second);
    if (!expected) bad("\"", checksum_key, "\" is '", stored->second, "', not crc32:<8 hex digits>");
    const std::uint32_t actual = crc32(data_section(), header_crc(detail::without_checksum(header)));
    if (actual != *expected)
      bad("checksum mismatch: the file is corrupted (stored ", stored->second, ", computed ", checksum_text(actual), ")");
  }

  std::filesystem::path path_;
  detail::FileBytes file_;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  Metadata metadata_;
};

}  // namespace graft::io
