// `ttt`: one program, one subcommand per task. Wiring only: each subcommand
// parses its flags and hands over to the library that does the work.

#include "apps/commands.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

/// `ttt data`: `fetch` needs no model and is in every build; the other
/// subcommands are the model's.
int data(const ttt::apps::args_t& args) {
  if (!args.empty() && args[0] == "fetch")
    return ttt::apps::data_fetch_command(ttt::apps::args_t(args.begin() + 1, args.end()));
  return ttt::apps::data_command(args);
}

struct subcommand {
  const char* name;
  const char* summary;
  int (*run)(const ttt::apps::args_t&);
};

const subcommand subcommands[] = {
  {"join", "volunteer for a run: fetch its kit and data, fit this machine, train", ttt::apps::join_command},
  {"node", "run a peer (DHT, averaging, training, ... as its profile says)", ttt::apps::node_command},
  {"dht", "store or get a value in a running swarm's DHT", ttt::apps::dht_command},
  {"run", "the run authority's tools: init a run, admit or revoke a peer", ttt::apps::run_command},
  {"identity", "print this node's public key and peer id (creating them)", ttt::apps::identity_command},
  {"model", "inspect or evaluate the DALL-E model", ttt::apps::model_command},
  {"data", "make and inspect dataset shards, tokenizers, the shapes set; fetch a run's data", data},
  {"train", "train the model standalone on this machine", ttt::apps::train_command},
  {"generate", "sample images for a prompt into a PNG grid", ttt::apps::generate_command},
  {"eval", "score generated images (eval shapes)", ttt::apps::eval_command},
  {"export", "export a checkpoint to safetensors", ttt::apps::export_command},
  {"vqgan", "turn images into VQGAN codes and codes into images", ttt::apps::vqgan_command},
  {"bench", "run a benchmark (dht, allreduce, wire, train, swarm, vqgan)", ttt::apps::bench_command},
  {"averager", "(internal) one averaging peer, driven by tests and benchmarks", ttt::apps::averager_command},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: ttt <command> [options]   (ttt <command> --help for its options)\n\n");
  for (const auto& c : subcommands)
    std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const auto& c : subcommands) {
    if (name == c.name)
      return c.run(ttt::apps::args_t(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "ttt: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
