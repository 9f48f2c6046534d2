#include "model/caption_images.hpp"

#include "model/json.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <utility>

namespace fs = std::filesystem;

namespace ttt::model {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trimmed(const std::string& s) {
  auto begin = s.find_first_not_of(" \t\r\n\f\v");
  if (begin == std::string::npos)
    return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n\f\v") - begin + 1);
}

// KEY and extension of a member's path: webdataset splits at the first dot of the file name.
std::pair<std::string, std::string> key_and_extension(const std::string& name) {
  auto slash = name.rfind('/');
  auto dot = name.find('.', slash == std::string::npos ? 0 : slash + 1);
  if (dot == std::string::npos)
    return {name, ""};
  return {name.substr(0, dot), lower(name.substr(dot + 1))};
}

// img2dataset's KEY.json: a caption where there is no KEY.txt, and LAION's NSFW tag.
void read_metadata(const std::string& text, captioned_image& sample) {
  auto json = parse_json(text);
  if (!json || json->type != json_value::kind::object)
    return;
  if (auto* caption = json->find("caption");
      caption && caption->type == json_value::kind::string && !sample.has_caption) {
    sample.caption = trimmed(caption->string);
    sample.has_caption = true;
  }
  if (auto* nsfw = json->find("NSFW"); nsfw && nsfw->type == json_value::kind::string)
    sample.nsfw = nsfw->string == "NSFW";
}

} // namespace

bool is_image_extension(const std::string& extension) {
  auto e = lower(extension);
  return e == "jpg" || e == "jpeg" || e == "png" || e == "webp";
}

result<webdataset_reader> webdataset_reader::open(const std::string& path,
                                                  int64_t max_member_bytes) {
  auto tar = tar_reader::open(path, max_member_bytes);
  if (!tar)
    return failure{tar.error()};
  return webdataset_reader(std::move(*tar));
}

result<std::optional<captioned_image>> webdataset_reader::next() {
  std::optional<captioned_image> sample;
  std::string metadata;
  auto finish = [&] {
    if (!metadata.empty())
      read_metadata(metadata, *sample);
    return std::move(sample);
  };
  while (true) {
    if (!pending_ && !ended_) {
      auto member = tar_.next();
      if (!member) {
        ended_ = true;
        failure_ = member.error();
      } else if (!*member) {
        ended_ = true;
      } else {
        pending_ = std::move(*member);
      }
    }
    if (!pending_) {
      if (sample) // what came before a failure is given first; the failure with the next call
        return finish();
      if (!failure_.empty())
        return failure{std::exchange(failure_, {})};
      return std::optional<captioned_image>{};
    }
    auto [key, extension] = key_and_extension(pending_->name);
    if (sample && key != sample->key)
      return finish();
    if (!sample) {
      sample.emplace();
      sample->key = key;
    }
    if (is_image_extension(extension) && !sample->has_image) {
      sample->image = std::move(pending_->bytes);
      sample->image_name = tar_.path() + ":" + pending_->name;
      sample->has_image = true;
    } else if (extension == "txt") {
      sample->caption = trimmed(pending_->bytes);
      sample->has_caption = true;
    } else if (extension == "json") {
      metadata = std::move(pending_->bytes);
    }
    pending_.reset();
  }
}

result<std::vector<std::string>> list_image_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return failure{"'" + dir + "' is not a folder"};
  std::vector<std::string> images;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    auto extension = it->path().extension().string();
    if (it->is_regular_file(ec) && extension.size() > 1 && is_image_extension(extension.substr(1)))
      images.push_back(it->path().string());
  }
  if (ec)
    return failure{"cannot list '" + dir + "': " + ec.message()};
  std::sort(images.begin(), images.end());
  return images;
}

result<captioned_image> read_folder_sample(const std::string& image_path, int64_t max_bytes) {
  captioned_image sample;
  sample.key = sample.image_name = image_path;
  auto read = [&](const std::string& path, std::string& out) -> status {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec)
      return failure{"cannot read '" + path + "': " + ec.message()};
    if (static_cast<int64_t>(size) > max_bytes)
      return failure{"'" + path + "' has " + std::to_string(size) + " bytes, over the limit of " +
                     std::to_string(max_bytes)};
    std::ifstream in(path, std::ios::binary);
    out.assign(static_cast<size_t>(size), '\0');
    in.read(out.data(), static_cast<std::streamsize>(size));
    if (in.gcount() != static_cast<std::streamsize>(size))
      return failure{"cannot read '" + path + "'"};
    return ok();
  };
  auto caption_path = fs::path(image_path).replace_extension(".txt").string();
  std::error_code ec;
  if (fs::exists(caption_path, ec)) {
    std::string text;
    if (auto st = read(caption_path, text); !st)
      return failure{st.error()};
    sample.caption = trimmed(text);
    sample.has_caption = true;
  }
  if (auto st = read(image_path, sample.image); !st)
    return failure{st.error()};
  sample.has_image = true;
  return sample;
}

} // namespace ttt::model
