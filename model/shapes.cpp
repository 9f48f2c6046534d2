#include "model/shapes.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace ttt::model {

const std::vector<std::string> shape_colours = {"red", "green", "blue", "yellow", "purple", "cyan"};
const std::vector<std::string> shape_kinds = {"circle", "square", "triangle"};

namespace {

const uint8_t palette[6][3] = {{220, 40, 40}, {40, 170, 60}, {40, 80, 220}, {235, 205, 30}, {150, 60, 190}, {40, 200, 210}};
const uint8_t background[3] = {240, 240, 240};
const char* sizes[2] = {"small", "big"};
const char* rows[3] = {"top", "middle", "bottom"};
const char* columns[3] = {"left", "center", "right"};
const double radius[2] = {5.0, 9.0};

double cell() { return shapes_image_size / 3.0; }

bool inside(const shape_object& o, double px, double py) {
  double cx = (o.column + 0.5) * cell(), cy = (o.row + 0.5) * cell(), r = radius[o.size];
  double dx = px - cx, dy = py - cy;
  switch (o.shape) {
  case 0: return dx * dx + dy * dy <= r * r;
  case 1: return std::abs(dx) <= r && std::abs(dy) <= r;
  default: return dy >= -r && dy <= r && std::abs(dx) <= (dy + r) / 2; // apex up
  }
}

int find_word(const std::string& w, const std::vector<std::string>& words) {
  auto it = std::find(words.begin(), words.end(), w);
  return it == words.end() ? -1 : static_cast<int>(it - words.begin());
}

} // namespace

shape_scene random_scene(std::mt19937_64& rng, int min_objects, int max_objects) {
  std::uniform_int_distribution<int> count(min_objects, std::max(min_objects, max_objects));
  std::vector<int> places(9);
  for (int i = 0; i < 9; ++i)
    places[i] = i;
  std::shuffle(places.begin(), places.end(), rng);
  shape_scene s;
  int n = std::min(count(rng), 9);
  for (int i = 0; i < n; ++i) {
    shape_object o;
    o.colour = std::uniform_int_distribution<int>(0, static_cast<int>(shape_colours.size()) - 1)(rng);
    o.shape = std::uniform_int_distribution<int>(0, static_cast<int>(shape_kinds.size()) - 1)(rng);
    o.size = std::uniform_int_distribution<int>(0, 1)(rng);
    o.row = places[i] / 3;
    o.column = places[i] % 3;
    s.objects.push_back(o);
  }
  return s;
}

std::string caption_of(const shape_scene& scene) {
  std::string out;
  for (const auto& o : scene.objects) {
    if (!out.empty())
      out += " and ";
    out += std::string(sizes[o.size]) + " " + shape_colours[o.colour] + " " + shape_kinds[o.shape] + " " + rows[o.row] +
           " " + columns[o.column];
  }
  return out;
}

shape_scene parse_caption(const std::string& caption) {
  std::istringstream in(caption);
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    if (w != "and")
      words.push_back(w);
  shape_scene s;
  if (words.size() % 5 != 0)
    return s;
  for (size_t i = 0; i < words.size(); i += 5) {
    shape_object o;
    o.size = words[i] == "big" ? 1 : words[i] == "small" ? 0 : -1;
    o.colour = find_word(words[i + 1], shape_colours);
    o.shape = find_word(words[i + 2], shape_kinds);
    o.row = find_word(words[i + 3], {"top", "middle", "bottom"});
    o.column = find_word(words[i + 4], {"left", "center", "right"});
    if (o.size < 0 || o.colour < 0 || o.shape < 0 || o.row < 0 || o.column < 0)
      return {};
    s.objects.push_back(o);
  }
  return s;
}

rgb_image render(const shape_scene& scene) {
  rgb_image img(shapes_image_size, shapes_image_size);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* c = background;
      for (const auto& o : scene.objects)
        if (inside(o, x + 0.5, y + 0.5))
          c = palette[o.colour];
      std::copy(c, c + 3, img.at(x, y));
    }
  return img;
}

double score_picture(const rgb_image& image, const shape_scene& scene) {
  if (scene.objects.empty() || image.width != shapes_image_size || image.height != shapes_image_size)
    return 0;
  double total = 0;
  for (const auto& o : scene.objects) {
    // The pixels of the requested colour inside the object's place.
    int x0 = static_cast<int>(o.column * cell()), x1 = static_cast<int>((o.column + 1) * cell());
    int y0 = static_cast<int>(o.row * cell()), y1 = static_cast<int>((o.row + 1) * cell());
    int count = 0, bx0 = x1, bx1 = x0, by0 = y1, by1 = y0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        const uint8_t* p = image.at(x, y);
        int d = 0;
        for (int ch = 0; ch < 3; ++ch)
          d = std::max(d, std::abs(int(p[ch]) - int(palette[o.colour][ch])));
        if (d > 60)
          continue;
        ++count;
        bx0 = std::min(bx0, x), bx1 = std::max(bx1, x), by0 = std::min(by0, y), by1 = std::max(by1, y);
      }
    // Areas of the requested object and of its other size, rendered alone.
    auto area = [&](int size) {
      shape_object alone = o;
      alone.size = size;
      int n = 0;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x)
          n += inside(alone, x + 0.5, y + 0.5);
      return n;
    };
    int expected = area(o.size), other = area(1 - o.size);
    if (count < expected / 3)
      continue; // the colour is not where it was asked for
    double score = 0.5;
    double fill = double(count) / double((bx1 - bx0 + 1) * (by1 - by0 + 1));
    const double typical_fill[3] = {M_PI / 4, 1.0, 0.5};
    int nearest = 0;
    for (int k = 1; k < 3; ++k)
      if (std::abs(fill - typical_fill[k]) < std::abs(fill - typical_fill[nearest]))
        nearest = k;
    if (nearest == o.shape)
      score += 0.25;
    if (std::abs(count - expected) < std::abs(count - other))
      score += 0.25;
    total += score;
  }
  return total / static_cast<double>(scene.objects.size());
}

} // namespace ttt::model
