#pragma once
// The synthetic text-to-image set: scenes of coloured shapes on a 3×3 grid of
// places, a caption that says what is where, and a scorer that checks a
// picture against its caption. Torch-free.

#include "model/image.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ttt::model {

/// One object of a scene; each index points into the word lists below.
struct shape_object {
  int colour = 0; ///< shape_colours
  int shape = 0;  ///< shape_kinds
  int size = 0;   ///< 0 small, 1 big
  int row = 0;    ///< 0 top, 1 middle, 2 bottom
  int column = 0; ///< 0 left, 1 center, 2 right
};

/// Objects in distinct places.
struct shape_scene {
  std::vector<shape_object> objects;
};

extern const std::vector<std::string> shape_colours;
extern const std::vector<std::string> shape_kinds;

/// Pixels of every rendered scene (64×64: an 8×8 grid of 8-pixel patches or
/// a 16×16 grid of 4-pixel patches).
constexpr int shapes_image_size = 64;

/// A random scene of `min_objects`..`max_objects` objects.
shape_scene random_scene(std::mt19937_64& rng, int min_objects, int max_objects);

/// "big red circle top left and small blue square bottom right".
std::string caption_of(const shape_scene& scene);

/// The scene a caption describes; nullopt-like empty scene when it does not parse.
shape_scene parse_caption(const std::string& caption);

/// Renders the scene on a light background, crisp edges.
rgb_image render(const shape_scene& scene);

/// How well a picture shows its scene, per requested object: the colour is
/// present at its place (counts 1/2), with the requested shape (1/4) and size
/// (1/4) judged from the matching pixels. 1 for a faithful picture.
double score_picture(const rgb_image& image, const shape_scene& scene);

} // namespace ttt::model
