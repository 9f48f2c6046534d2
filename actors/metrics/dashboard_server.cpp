// The dashboard's HTTP server (cpp-httplib), kept in its own file: httplib.h
// is a large header that nothing else should parse.
#include "actors/metrics/dashboard.hpp"

#include "actors/metrics/http_thread.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <vector>

namespace ttt::metrics {

namespace {

enum class published_file { weights, samples };

/// Sends the published file `which` as the board names it: a fixed route's
/// file, never a path from the request. Each epoch's file has a name of its
/// own and is never rewritten; a newer publication removes the older, so a
/// file gone between reading the board and opening it is a superseded one,
/// and the board is read again. The open file is what is streamed (never
/// read whole into memory), with the headers of the same record.
void serve_published(const dashboard_board& board, published_file which, httplib::Response& res) {
  bool weights = which == published_file::weights;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto published = board.view().published;
    auto path = !published ? std::string() : weights ? published->weights_path : published->samples_path;
    if (path.empty()) {
      res.status = 404;
      res.set_content(weights ? "no weights published yet: an aux peer (roles checkpointer and monitor) publishes "
                                "those of each checkpoint it writes\n"
                              : "no sample pictures published yet: an aux peer draws them every [publish] "
                                "sample_every epochs\n",
                      "text/plain");
      return;
    }
    auto file = std::make_shared<std::ifstream>(path, std::ios::binary | std::ios::ate);
    if (!*file)
      continue;
    auto size = static_cast<size_t>(file->tellg());
    if (weights && size != published->weights_bytes)
      continue;
    if (weights) {
      res.set_header("X-TTT-Epoch", std::to_string(published->epoch));
      res.set_header("X-TTT-State-Digest", published->state_digest);
      res.set_header("X-TTT-Weights-Digest", published->weights_digest);
      res.set_header("Content-Disposition",
                     "attachment; filename=\"weights-epoch-" + std::to_string(published->epoch) + ".safetensors\"");
    } else {
      res.set_header("X-TTT-Epoch", std::to_string(published->samples_epoch));
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content_provider(size, weights ? "application/octet-stream" : "image/png",
                             [file](size_t offset, size_t length, httplib::DataSink& sink) {
                               std::vector<char> chunk(std::min<size_t>(length, 1 << 16));
                               file->seekg(static_cast<std::streamoff>(offset));
                               file->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                               if (static_cast<size_t>(file->gcount()) != chunk.size())
                                 return false;
                               return sink.write(chunk.data(), chunk.size());
                             });
    return;
  }
  res.status = 503;
  res.set_content("the published file is being replaced or was removed: try again\n", "text/plain");
}

} // namespace

struct dashboard_server::impl : http_thread {};

dashboard_server::dashboard_server() = default;

dashboard_server::~dashboard_server() {
  stop();
}

std::string dashboard_server::start(const std::string& host, uint16_t port,
                                    std::shared_ptr<const dashboard_board> board) {
  if (impl_)
    return "the dashboard is already running";
  auto state = std::make_unique<impl>();
  auto& server = state->server;
  server.Get("/", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_page(board->view()), "text/html; charset=utf-8");
  });
  server.Get("/metrics", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_prometheus(board->view()), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/api/history", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_json(board->view()), "application/json");
  });
  server.Get("/api/leaderboard", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_leaderboard_json(board->view()), "application/json");
  });
  server.Get("/weights/latest.safetensors", [board](const httplib::Request&, httplib::Response& res) {
    serve_published(*board, published_file::weights, res);
  });
  server.Get("/samples/latest.png", [board](const httplib::Request&, httplib::Response& res) {
    serve_published(*board, published_file::samples, res);
  });
  // The run's kit for `ttt join` (fixed paths, texts held in memory).
  auto serve_kit = [board](std::string run_kit_files::*part, const char* type) {
    return [board, part, type](const httplib::Request&, httplib::Response& res) {
      auto kit = board->kit();
      if (!kit || (*kit).*part == "") {
        res.status = 404;
        res.set_content(kit ? "this run has no manifest\n"
                            : "this node serves no run kit: its profile's [join] profile names the run's "
                              "trainer profile\n",
                        "text/plain");
        return;
      }
      res.set_content((*kit).*part, type);
    };
  };
  server.Get("/run", serve_kit(&run_kit_files::profile, "text/plain; charset=utf-8"));
  server.Get("/run/model.ini", serve_kit(&run_kit_files::model_config, "text/plain; charset=utf-8"));
  server.Get("/run/run.manifest", serve_kit(&run_kit_files::manifest, "application/octet-stream"));
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      res.set_content("not found: " + req.path + " (try /, /metrics, /api/history, /api/leaderboard, /run)\n", "text/plain");
  });
  std::string error;
  port_ = state->start(host, port, "the dashboard", error);
  if (port_ == 0)
    return error;
  impl_ = std::move(state);
  return "";
}

void dashboard_server::stop() {
  impl_.reset();
}

} // namespace ttt::metrics
