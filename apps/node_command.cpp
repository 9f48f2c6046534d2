// `ttt node`: runs one peer with the roles its profile lists.

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/averager/interface.hpp"
#include "actors/averager/matchmaker.hpp"
#include "actors/checkpointer/checkpointer.hpp"
#include "actors/trainer/collaborative.hpp"
#include "actors/metrics/monitor.hpp"
#include "actors/metrics/node_metrics_server.hpp"
#include "actors/metrics/volunteer_status.hpp"
#include "actors/seeder/seeder.hpp"
#include "actors/metrics/publisher.hpp"
#include "actors/wire/wire.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/profile.hpp"
#include "apps/run_admission.hpp"
#include "apps/run_kit.hpp"
#include "apps/runtime.hpp"
#include "apps/trainer_profile.hpp"
#include "storage/database.hpp"
#if TTT_WITH_MODEL
#include "model/api.hpp"
#include "model/swarm_model.hpp"
#endif

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

namespace ttt::apps {

namespace {

const std::set<std::string> known_settings = {
  "node.roles",        "node.listen",         "node.announce",      "node.data_dir",
  "node.client_mode",  "node.initial_peers",  "dht.bucket_size",    "dht.alpha",
  "dht.num_replicas",  "dht.rpc_timeout",     "dht.refresh_interval", "dht.purge_interval",
  "run.run_id",        "run.manifest",        "run.certificate",    "run.revocation_poll_interval",
  "monitor.poll_interval", "monitor.alive_window", "monitor.dashboard", "monitor.max_samples_per_second",
  "join.profile",
  "trainer.config",    "trainer.data",        "trainer.target_batch_size", "trainer.epochs",
  "trainer.group_size", "trainer.min_group_size", "trainer.matchmaking_time", "trainer.device",
  "trainer.cuda_graph", "trainer.keep_activations", "trainer.micro_batch_size", "trainer.status_every", "trainer.name",
  "trainer.average_state_every", "trainer.overlap_averaging", "trainer.vouch_quorum", "trainer.eval_every",
  "averager.aggregation", "averager.clip_tau",
  "checkpointer.checkpoint_every", "checkpointer.keep_checkpoints", "checkpointer.poll_interval",
  "seeder.shards",
  "publish.sample_every", "publish.prompts", "publish.sample_count", "publish.codecs", "publish.vqgan",
  "wire.handshake_timeout", "wire.idle_timeout", "wire.call_timeout", "wire.max_connections",
  "wire.max_per_address", "wire.max_unauthenticated", "wire.inbound_mbytes_per_second",
  "wire.inbound_frames_per_second", "wire.max_queued_mbytes", "wire.max_inflight_mbytes",
  "wire.max_inflight_requests", "metrics.listen",
};

#if TTT_WITH_MODEL
const std::set<std::string> available_roles = {"dht", "monitor", "trainer", "checkpointer", "seeder"};
#else
const std::set<std::string> available_roles = {"dht", "monitor", "checkpointer", "seeder"};
#endif

/// The wire's proxy for the averager of `peer` (dialled at `address` when
/// there is no connection to it). Asks the local wire only, so it never
/// waits on the network.
averaging::averager_peer reach_averager(caf::actor_system& sys, const caf::actor& wire, const node_id& peer,
                                        const std::string& address) {
  averaging::averager_peer result;
  caf::scoped_actor asker{sys};
  asker->request(wire, std::chrono::seconds(10), wire_peer_atom_v, std::string(peer.raw()), address)
    .receive([&](caf::actor& proxy) { result = caf::actor_cast<averaging::averager_peer>(proxy); },
             [](caf::error&) {});
  return result;
}

/// The [wire] section: every limit of the wire, with the defaults of wire_limits.
std::optional<wire::wire_limits> read_wire_limits(const profile& prof, std::string& error) {
  wire::wire_limits l;
  auto mib = [](double v) { return static_cast<size_t>(v * (1 << 20)); };
  auto handshake = prof.real("wire.handshake_timeout", l.handshake_timeout, error);
  auto idle = prof.real("wire.idle_timeout", l.idle_timeout, error);
  auto call = prof.real("wire.call_timeout", l.call_timeout, error);
  auto total = prof.integer("wire.max_connections", static_cast<int64_t>(l.max_connections), error);
  auto per_address = prof.integer("wire.max_per_address", static_cast<int64_t>(l.max_per_address), error);
  auto unauthenticated = prof.integer("wire.max_unauthenticated", static_cast<int64_t>(l.max_unauthenticated), error);
  auto inbound = prof.real("wire.inbound_mbytes_per_second", l.inbound_bytes_per_second / (1 << 20), error);
  auto frames = prof.real("wire.inbound_frames_per_second", l.inbound_frames_per_second, error);
  auto queued = prof.real("wire.max_queued_mbytes", static_cast<double>(l.max_queued_bytes) / (1 << 20), error);
  auto inflight = prof.real("wire.max_inflight_mbytes", static_cast<double>(l.max_inflight_bytes) / (1 << 20), error);
  auto requests = prof.integer("wire.max_inflight_requests", static_cast<int64_t>(l.max_inflight_requests), error);
  if (!error.empty())
    return std::nullopt;
  if (*handshake <= 0 || *idle <= 0 || *call <= 0 || *total < 1 || *per_address < 1 || *unauthenticated < 1 ||
      *inbound <= 0 || *frames <= 0 || *queued < 2 || *inflight < 2 || *requests < 1) {
    error = prof.origin() + ": [wire] limits must be positive (queues at least 2 MiB: one frame)";
    return std::nullopt;
  }
  l.handshake_timeout = *handshake;
  l.idle_timeout = *idle;
  l.call_timeout = *call;
  l.max_connections = static_cast<size_t>(*total);
  l.max_per_address = static_cast<size_t>(*per_address);
  l.max_unauthenticated = static_cast<size_t>(*unauthenticated);
  l.inbound_bytes_per_second = *inbound * (1 << 20);
  l.inbound_frames_per_second = *frames;
  l.max_queued_bytes = mib(*queued);
  l.max_inflight_bytes = mib(*inflight);
  l.max_inflight_requests = static_cast<size_t>(*requests);
  return l;
}

/// Every 5 seconds, the wire's connection counts into this node's figures
/// (for as long as the wire lives).
void spawn_wire_sampler(caf::actor_system& sys, caf::actor wire_actor, std::shared_ptr<node_metrics> figures) {
  sys.spawn([wire_actor, figures](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(wire_actor);
    self->set_down_handler([self](caf::down_msg&) { self->quit(); });
    self->send(self, mon_poll_atom_v);
    return {
      [self, wire_actor, figures](mon_poll_atom) {
        self->request(wire_actor, std::chrono::seconds(5), wire_stats_atom_v)
          .then([figures](size_t, size_t authenticated, size_t unauthenticated) {
            figures->set("ttt_node_wire_connections", static_cast<double>(authenticated),
                         prometheus_label("state", "authenticated"));
            figures->set("ttt_node_wire_connections", static_cast<double>(unauthenticated),
                         prometheus_label("state", "unauthenticated"));
          }, [](caf::error&) { /* the wire is busy or gone: the next sample tells */ });
        self->delayed_send(self, std::chrono::seconds(5), mon_poll_atom_v);
      },
    };
  });
}

int fail(const std::string& message) {
  std::fprintf(stderr, "ttt node: %s\n", message.c_str());
  return 2;
}

caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(s));
}

/// The pictures an aux peer draws unless [publish] prompts says otherwise:
/// captions the shapes set's grammar (model/shapes.hpp) describes.
const char* default_prompts = "big red circle top left; small blue square bottom right; "
                              "big green triangle middle center; small yellow circle top right and big purple "
                              "square bottom left";

/// The [publish] section's publisher, writing into <data_dir>/published;
/// null where the build has no model to export or draw with.
std::shared_ptr<metrics::publisher> start_publisher([[maybe_unused]] const profile& prof,
                                                    [[maybe_unused]] const std::string& data_dir,
                                                    [[maybe_unused]] std::shared_ptr<metrics::dashboard_board> board,
                                                    [[maybe_unused]] uint64_t sample_every,
                                                    [[maybe_unused]] int64_t sample_count) {
#if TTT_WITH_MODEL
  metrics::publisher_config pc;
  pc.dir = (std::filesystem::path(data_dir) / "published").string();
  pc.sample_every = sample_every;
  std::stringstream prompts(*prof.text("publish.prompts", default_prompts));
  for (std::string prompt; std::getline(prompts, prompt, ';');) {
    auto begin = prompt.find_first_not_of(" \t"), end = prompt.find_last_not_of(" \t");
    if (begin != std::string::npos)
      pc.prompts.push_back(prompt.substr(begin, end - begin + 1));
  }
  pc.board = std::move(board);
  pc.clock = dht::wall_clock_seconds;
  pc.log = log_line;
  model::codec_files codecs;
  codecs.data_dir = prof.path("publish.codecs", "");
  codecs.vqgan = prof.path("publish.vqgan", "");
  pc.render = [codecs, sample_count](const metrics::render_request& req) -> caf::expected<std::string> {
    model::publish_options o;
    o.weights_out = req.weights_out;
    o.samples_out = req.samples_out;
    o.prompts = req.prompts;
    o.sample_count = sample_count;
    o.codecs = codecs;
    auto report = model::publish_checkpoint(req.checkpoint, o);
    if (!report)
      return caf::make_error(caf::sec::runtime_error, report.error());
    return report->parameters_digest;
  };
  log_line("publishing each newer checkpoint's weights on the dashboard (/weights/latest.safetensors)" +
           (sample_every == 0 || pc.prompts.empty()
              ? std::string(", no pictures")
              : ", pictures of " + std::to_string(pc.prompts.size()) + " prompts every " +
                  std::to_string(sample_every) + " epochs (/samples/latest.png)"));
  return std::make_shared<metrics::publisher>(std::move(pc));
#else
  log_line("this build has no model: the aux peer publishes no weights or pictures on its dashboard");
  return nullptr;
#endif
}

} // namespace

int node_command(const args_t& args) {
  return node_command(args, node_hooks{});
}

int node_command(const args_t& args, const node_hooks& hooks) {
  flag_parser flags("ttt node --profile FILE [options]\n"
                    "  roles a profile's [node] roles may list: dht, monitor, trainer, checkpointer, seeder\n"
                    "  (configs/node.ini, monitor.ini, trainer.ini, client.ini, aux.ini)",
                    {{"profile", "FILE", "node profile (configs/*.ini)"},
                     {"listen", "HOST:PORT", "where to listen (port 0: any free port)"},
                     {"announce", "HOST:PORT", "the address other peers reach this one at"},
                     {"initial-peer", "[PEERID@]HOST:PORT", "a peer to join through (with its id: its key is checked)", true},
                     {"data-dir", "DIR", "identity, records and known peers"},
                     {"manifest", "FILE", "the run's signed manifest (ttt run init)"},
                     {"certificate", "FILE", "this node's certificate of the run (ttt run admit)"},
                     {"client-mode", "", "make only outgoing connections (behind NAT)"},
                     {"data", "DIR", "training shards (trainer role)"},
                     {"name", "NAME", "your volunteer name on the dashboard; a certificate's name wins"},
                     {"set", "SECTION.KEY=VALUE", "set one of the profile's settings (e.g. trainer.device=cpu)", true}});
  if (int rc = flags.parse_or_exit(args, "ttt node"); rc >= 0)
    return rc;
  auto profile_path = flags.value("profile");
  if (!profile_path)
    return fail("--profile FILE is required (e.g. configs/node.ini)");
  std::string error;
  auto prof = profile::load(*profile_path, error);
  if (!prof)
    return fail(error);
  auto known = known_settings;
  known.insert(trainer_mode_keys().begin(), trainer_mode_keys().end());
  for (const auto& assignment : flags.values("set")) {
    auto eq = assignment.find('=');
    auto key = assignment.substr(0, eq);
    if (eq == std::string::npos || !known.count(key))
      return fail("--set " + assignment + ": expected SECTION.KEY=VALUE with a known setting (e.g. trainer.device=cpu)");
    prof->set(key, assignment.substr(eq + 1));
  }
  if (!prof->check_known(known, error))
    return fail(error);
  for (const auto& role : prof->list("node.roles"))
    if (!available_roles.count(role))
      return fail(prof->origin() + ": role '" + role + "' is not available in this build");
  // Flags override the profile.
  if (auto v = flags.value("listen"))
    prof->set("node.listen", *v);
  if (auto v = flags.value("announce"))
    prof->set("node.announce", *v);
  if (auto v = flags.value("data-dir"))
    prof->set("node.data_dir", *v);
  if (auto v = flags.value("manifest"))
    prof->set("run.manifest", *v);
  if (auto v = flags.value("certificate"))
    prof->set("run.certificate", *v);
  if (flags.has("client-mode"))
    prof->set("node.client_mode", "true");
  if (auto v = flags.value("data"))
    prof->set("trainer.data", *v);
  if (auto v = flags.value("name"))
    prof->set("trainer.name", *v);

  auto client_mode = prof->boolean("node.client_mode", false, error);
  auto cuda_graph = prof->boolean("trainer.cuda_graph", true, error);
  auto keep_activations = prof->boolean("trainer.keep_activations", false, error);
  (void)cuda_graph; // checked in every build, used where the model is built
  (void)keep_activations;
  auto bucket_size = prof->integer("dht.bucket_size", 20, error);
  auto alpha = prof->integer("dht.alpha", 3, error);
  auto replicas = prof->integer("dht.num_replicas", 5, error);
  auto rpc_timeout = prof->real("dht.rpc_timeout", 3, error);
  auto refresh = prof->real("dht.refresh_interval", 60, error);
  auto purge = prof->real("dht.purge_interval", 30, error);
  auto monitor_poll = prof->real("monitor.poll_interval", 5, error);
  auto alive_window = prof->real("monitor.alive_window", 60, error);
  auto max_samples_per_second = prof->real("monitor.max_samples_per_second", 20000, error);
  auto revocation_poll = prof->real("run.revocation_poll_interval", 30, error);
  auto roles = prof->list("node.roles");
  bool run_monitor = std::find(roles.begin(), roles.end(), "monitor") != roles.end();
  auto run_id = *prof->text("run.run_id", "");
  bool run_trainer = std::find(roles.begin(), roles.end(), "trainer") != roles.end();
  auto target_batch = prof->integer("trainer.target_batch_size", 4096, error);
  auto epochs = prof->integer("trainer.epochs", 0, error);
  auto group_size = prof->integer("trainer.group_size", 16, error);
  auto min_group_size = prof->integer("trainer.min_group_size", 2, error);
  auto matchmaking_time = prof->real("trainer.matchmaking_time", 5, error);
  auto average_state_every = prof->integer("trainer.average_state_every", 0, error);
  auto overlap_averaging = prof->boolean("trainer.overlap_averaging", false, error);
  auto vouch_quorum = prof->integer("trainer.vouch_quorum", 1, error);
  auto eval_every = prof->integer("trainer.eval_every", 0, error);
  auto micro_batch = prof->integer("trainer.micro_batch_size", 0, error);
  auto status_every = prof->real("trainer.status_every", 60, error);
  auto aggregation_name = *prof->text("averager.aggregation", "mean");
  auto clip_tau = prof->real("averager.clip_tau", 2.0, error);
  (void)overlap_averaging; // checked in every build, used where the model is built
  bool run_checkpointer = std::find(roles.begin(), roles.end(), "checkpointer") != roles.end();
  bool run_seeder = std::find(roles.begin(), roles.end(), "seeder") != roles.end();
  auto shards_dir = prof->path("seeder.shards", "");
  auto checkpoint_every = prof->integer("checkpointer.checkpoint_every", 1, error);
  auto keep_checkpoints = prof->integer("checkpointer.keep_checkpoints", 3, error);
  auto checkpoint_poll = prof->real("checkpointer.poll_interval", 10, error);
  auto sample_every = prof->integer("publish.sample_every", 10, error);
  auto sample_count = prof->integer("publish.sample_count", 4, error);
  trainer_mode_settings trainer_mode;
  if (error.empty())
    read_trainer_mode(*prof, trainer_mode, error);
  if (!error.empty())
    return fail(error);
  if (*bucket_size < 1 || *alpha < 1 || *replicas < 1 || *rpc_timeout <= 0 || *refresh <= 0 ||
      *purge <= 0 || *monitor_poll <= 0 || *alive_window <= 0 || *revocation_poll <= 0)
    return fail(prof->origin() + ": DHT, monitor and [run] intervals must be positive");
  auto aggregation = averaging::parse_aggregation(aggregation_name);
  if (!aggregation)
    return fail(prof->origin() + ": [averager] aggregation: " + describe(aggregation.error()));
  if (*vouch_quorum < 0 || !(*clip_tau > 0))
    return fail(prof->origin() + ": [trainer] vouch_quorum must be at least 0 and [averager] clip_tau positive");
  auto manifest_file = prof->path("run.manifest", "");
  auto certificate_file = prof->path("run.certificate", "");
  if (run_id.empty() && manifest_file.empty())
    return fail(prof->origin() + ": every node needs [run] run_id: the wire admits only peers of the same run");
  auto limits = read_wire_limits(*prof, error);
  if (!limits)
    return fail(error);
  if (run_checkpointer && (*checkpoint_every < 1 || *keep_checkpoints < 0 || *checkpoint_poll <= 0))
    return fail(prof->origin() + ": [checkpointer] checkpoint_every must be at least 1, "
                "keep_checkpoints at least 0 (0: keep all), poll_interval positive");
  if (*sample_every < 0 || *sample_count < 1 || *sample_count > 64)
    return fail(prof->origin() + ": [publish] sample_every must be at least 0 (0: no pictures), "
                "sample_count 1 to 64");
  if (run_seeder && (shards_dir.empty() || *client_mode))
    return fail(prof->origin() + ": a seeder needs [seeder] shards = DIR and serves it, so it cannot run in "
                "client mode");
  if (run_checkpointer && !run_trainer && *client_mode)
    return fail(prof->origin() + ": a checkpointer without a trainer serves state, so it cannot "
                "run in client mode");
  if (run_trainer && (*target_batch < 1 || *epochs < 0 || *min_group_size < 1 ||
                      *group_size < *min_group_size || *matchmaking_time <= 0 || *average_state_every < 0 ||
                      *eval_every < 0 || *micro_batch < 0 || *status_every < 0))
    return fail(prof->origin() + ": trainer settings out of range");
  auto volunteer_name = *prof->text("trainer.name", "");
  if (run_trainer && !metrics::printable_text(volunteer_name, metrics::max_volunteer_name_bytes))
    return fail("the volunteer name (--name, [trainer] name) must be at most " +
                std::to_string(metrics::max_volunteer_name_bytes) + " bytes of UTF-8 without control characters");
  if (!(*max_samples_per_second > 0))
    return fail(prof->origin() + ": [monitor] max_samples_per_second must be positive");

  // [monitor] dashboard = HOST:PORT serves the dashboard (port 0: any); empty: none.
  std::optional<std::pair<std::string, uint16_t>> dashboard_at;
  if (auto d = prof->get("monitor.dashboard"); run_monitor && d && !d->empty()) {
    dashboard_at = parse_host_port(*d, error, true);
    if (!dashboard_at)
      return fail(prof->origin() + ": [monitor] dashboard: " + error);
  }
  // [join] profile = FILE: the run's kit the dashboard hands `ttt join` (checked now; served with
  // this node among its initial peers once the node listens).
  auto kit_profile = prof->path("join.profile", "");
  if (!kit_profile.empty()) {
    if (!dashboard_at)
      return fail(prof->origin() + ": [join] profile is served by the dashboard: it needs the monitor role and "
                  "[monitor] dashboard");
    if (auto kit = make_run_kit(kit_profile, ""); !kit)
      return fail(prof->origin() + ": [join] profile: " + describe(kit.error()));
  }

  // [metrics] listen = HOST:PORT serves this node's own figures (port 0: any); empty: none.
  std::optional<std::pair<std::string, uint16_t>> metrics_at;
  if (auto m = prof->get("metrics.listen"); m && !m->empty()) {
    metrics_at = parse_host_port(*m, error, true);
    if (!metrics_at)
      return fail(prof->origin() + ": [metrics] listen: " + error);
  }

  auto listen = parse_host_port(*prof->text("node.listen", "0.0.0.0:31234"), error, true);
  if (!listen)
    return fail("listen address " + error);
  std::string announce_host = listen->first == "0.0.0.0" ? "127.0.0.1" : listen->first;
  std::optional<uint16_t> announce_port;
  if (auto a = prof->get("node.announce"); a && !a->empty()) {
    auto parsed = parse_host_port(*a, error);
    if (!parsed)
      return fail("announce address " + error);
    announce_host = parsed->first;
    announce_port = parsed->second;
  }
  std::vector<std::string> initial_peers;
  {
    auto given = prof->list("node.initial_peers");
    for (const auto& p : flags.values("initial-peer"))
      given.push_back(p);
    for (const auto& p : given) {
      auto resolved = resolve_peer(p, error);
      if (!resolved)
        return fail("initial peer " + error);
      initial_peers.push_back(*resolved);
    }
  }

  auto data_dir = *prof->text("node.data_dir", "ttt-data");
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec)
    return fail("cannot create data directory " + data_dir + ": " + ec.message());
  auto me = identity::load_or_create(data_dir);
  if (!me)
    return fail(describe(me.error()));
  // The run's admission: a closed-run node without a certificate of its own
  // would be refused by every peer, so it does not start.
  auto admission = load_node_admission(manifest_file, certificate_file, run_id, *me, dht::wall_clock_seconds());
  if (!admission)
    return fail(describe(admission.error()));
  if (admission->policy) {
    const auto& manifest = admission->policy->manifest();
    // The manifest's entry points, unless this node is one of them.
    for (const auto& p : manifest.initial_peers) {
      auto at = p.find('@');
      if (at != std::string::npos && p.substr(0, at) == me->id().to_hex())
        continue;
      auto resolved = resolve_peer(p, error);
      if (!resolved)
        return fail("the manifest's initial peer " + error);
      if (std::find(initial_peers.begin(), initial_peers.end(), *resolved) == initial_peers.end())
        initial_peers.push_back(*resolved);
    }
  }
#if TTT_WITH_MODEL
  // The trainer's inputs (its model config, shards and device) are checked
  // before the node listens: a bad path fails here, before any peer knows
  // this node.
  std::shared_ptr<trainer::local_model> trainer_model;
  model::swarm_model_options mo;
  if (run_trainer) {
    mo.config = prof->path("trainer.config", "configs/model/dalle-tiny.ini");
    mo.data_dir = prof->path("trainer.data", "");
    mo.device = *prof->text("trainer.device", "auto");
    mo.cuda_graph = cuda_graph.value_or(true);
    mo.keep_activations = keep_activations.value_or(false);
    mo.micro_batch_size = *micro_batch;
    mo.peer_id = me->id().to_hex();
    mo.inner = trainer_mode.inner;
    if (mo.data_dir.empty())
      return fail("the trainer needs shards: --data DIR or [trainer] data (ttt data shapes makes some)");
    auto built = model::make_swarm_model(mo);
    if (!built)
      return fail(built.error());
    trainer_model = hooks.wrap_model ? hooks.wrap_model(*built) : *built;
  }
#endif
  auto db = storage::database::open(data_dir + "/db");
  if (!db)
    return fail(describe(db.error()));

  // Signals are taken synchronously by this thread; CAF's threads inherit
  // the blocked mask and never see them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  int exit_code = 0;
  {
    peer_system_config cfg;
    caf::actor_system sys(cfg);
    // The wire first: it owns the port, and the DHT node advertises the
    // port it got.
    wire::wire_config wc;
    wc.self = *me;
    wc.run_id = run_id;
    wc.limits = *limits;
    wc.log = log_line;
    wc.admission = admission->policy;
    wc.certificate = admission->certificate;
    wc.clock = dht::wall_clock_seconds;
    uint16_t port = listen->second;
    if (!*client_mode) {
      auto listening = wire::listen(listen->first, port);
      if (!listening)
        return fail(describe(listening.error()));
      wc.listen_fd = listening->first;
      port = listening->second;
    }
    auto wire_actor = wire::spawn_wire(sys, wc);

    dht::dht_config dc;
    dc.self = *me;
    dc.client_mode = *client_mode;
    dc.bucket_size = static_cast<size_t>(*bucket_size);
    dc.alpha = static_cast<size_t>(*alpha);
    dc.num_replicas = static_cast<size_t>(*replicas);
    dc.rpc_timeout = seconds(*rpc_timeout);
    dc.refresh_interval = seconds(*refresh);
    dc.purge_interval = seconds(*purge);
    dc.transport = wire_actor;
    dc.db = db->get();
    dc.log = log_line;
    auto figures = std::make_shared<node_metrics>(prometheus_label("peer", me->id().to_hex()) + "," +
                                                  prometheus_label("run", run_id));
    dc.metrics = figures;
    if (!*client_mode) {
      dc.host = announce_host;
      dc.port = announce_port.value_or(port);
    }
    if (admission->policy) {
      // Only the authority's revocations of this run are stored under its
      // revocation key: nobody else can fill it or hide an entry.
      auto manifest = admission->policy->manifest();
      dc.rules.bind_schema("revoked.", "SignedRevocation", [manifest](std::string_view value) -> caf::error {
        auto revoked = wire::read_revocation(value, manifest);
        return revoked ? caf::error{} : revoked.error();
      });
    }
    auto node = dht::spawn_dht_node(sys, dc);
    // A trainer averages, an aux peer serves state: both need an averager.
    averaging::averager_actor averager;
    if (run_trainer || run_checkpointer) {
      averaging::averager_options ao;
      ao.log = log_line;
      averager = averaging::spawn_averager(sys, std::string(me->id().raw()), ao);
    }
    caf::anon_send(wire_actor, wire_routes_atom_v, caf::actor_cast<caf::actor>(node),
                   caf::actor_cast<caf::actor>(averager));
    if (*client_mode)
      log_line("ttt node " + me->id().to_hex() + " client mode (run '" + run_id + "')");
    else
      log_line("ttt node " + me->id().to_hex() + " listening on " + listen->first + ":" +
               std::to_string(port) + " (run '" + run_id + "'; others join through " + me->id().to_hex() +
               "@" + announce_host + ":" + std::to_string(announce_port.value_or(port)) + ")");

    caf::anon_send(node, bootstrap_atom_v, initial_peers);
    metrics::node_metrics_server metrics_server;
    if (metrics_at) {
      if (auto err = metrics_server.start(metrics_at->first, metrics_at->second, figures); !err.empty())
        log_line("metrics: " + err); // the node runs on without them
      else
        log_line("metrics of this node at http://" + metrics_at->first + ":" + std::to_string(metrics_server.port()) +
                 "/metrics");
      spawn_wire_sampler(sys, wire_actor, figures);
    }

    caf::actor revocation_poller;
    if (admission->policy) {
      const auto& manifest = admission->policy->manifest();
      log_line(std::string("run '") + run_id + "': " + to_string(manifest.admission) + " admission, authority " +
               wire::to_hex(manifest.authority_key).substr(0, 16) +
               (admission->own ? ", certified as '" + admission->own->name + "' until " +
                                   format_utc(admission->own->not_after)
                               : std::string(", no certificate")));
      revocation_poller = spawn_revocation_poller(sys, node, wire_actor, run_id, seconds(*revocation_poll), log_line);
    }

    metrics::monitor_actor monitor;
    metrics::dashboard_server dashboard;
    std::shared_ptr<metrics::dashboard_board> board;
    if (run_monitor) {
      metrics::monitor_config mc;
      mc.dht = node;
      mc.run_id = run_id;
      mc.db = db->get();
      mc.clock = dht::wall_clock_seconds;
      mc.poll_interval = seconds(*monitor_poll);
      mc.alive_window = *alive_window;
      mc.max_samples_per_second = *max_samples_per_second;
      mc.log = log_line;
      if (admission->policy)
        mc.name_of = [policy = admission->policy](const node_id& peer, const std::string& bytes) {
          // Verified like a handshake's certificate, for the key the peer id names.
          auto cert = wire::read_certificate(bytes, policy->manifest());
          if (!cert || peer_id_of(cert->peer_key) != peer)
            return std::string();
          auto checked = wire::verify_certificate(bytes, policy->manifest(), cert->peer_key,
                                                  dht::wall_clock_seconds(), policy->revoked());
          return checked ? checked->name : std::string();
        };
      if (dashboard_at) {
        mc.board = board = std::make_shared<metrics::dashboard_board>();
        if (!kit_profile.empty()) {
          auto entry = *client_mode ? std::string()
                                    : me->id().to_hex() + "@" + announce_host + ":" +
                                        std::to_string(announce_port.value_or(port));
          if (auto kit = make_run_kit(kit_profile, entry))
            board->set_kit(std::make_shared<metrics::run_kit_files>(
              metrics::run_kit_files{kit->profile, kit->model_config, kit->manifest}));
          else
            log_line("monitor: the run's kit: " + describe(kit.error()));
        }
        if (auto err = dashboard.start(dashboard_at->first, dashboard_at->second, mc.board); !err.empty())
          log_line("monitor: " + err); // the monitor still logs and keeps its history
        else
          log_line("dashboard of run '" + run_id + "' at http://" + dashboard_at->first + ":" +
                   std::to_string(dashboard.port()) + "/ (Prometheus: /metrics)");
      }
      monitor = metrics::spawn_monitor(sys, mc);
      log_line("monitor of run '" + run_id + "' started");
    }
    // An aux peer (a checkpointer without a trainer, a monitor with a
    // dashboard) publishes each newer checkpoint's weights and pictures there.
    std::shared_ptr<metrics::publisher> publisher;
    if (run_checkpointer && !run_trainer && board && dashboard.port() != 0)
      publisher = start_publisher(*prof, data_dir, board, static_cast<uint64_t>(*sample_every),
                                  static_cast<int64_t>(*sample_count));

    std::vector<caf::actor> role_actors;
    caf::actor trainer_handle;
    // With a trainer, the checkpointer writes the trainer's state and hands
    // it back on restart; alone (aux), it follows the swarm's state adverts.
    checkpoint::checkpointer_actor checkpointer;
    if (run_checkpointer) {
      checkpoint::checkpointer_config cc;
      cc.db = db->get();
      cc.root = (std::filesystem::path(data_dir) / "checkpoints").string();
      cc.every = static_cast<uint64_t>(*checkpoint_every);
      cc.keep = static_cast<size_t>(*keep_checkpoints);
      cc.clock = dht::wall_clock_seconds;
      cc.log = log_line;
      cc.detached = true;
      cc.follow = !run_trainer;
      cc.run_id = run_id;
      cc.dht = node;
      cc.averager = averager;
      cc.self = *me;
      cc.host = announce_host;
      cc.port = announce_port.value_or(port);
      cc.resolve = [&sys, wire_actor](const averaging::state_advert& a) {
        return reach_averager(sys, wire_actor, a.peer, a.address());
      };
      cc.poll_interval = seconds(*checkpoint_poll);
      cc.vouch_quorum = static_cast<size_t>(*vouch_quorum);
      if (publisher)
        cc.on_checkpoint = [publisher](const checkpoint::checkpoint_meta& meta) {
          publisher->offer(meta.epoch, meta.path);
        };
      checkpointer = checkpoint::spawn_checkpointer(sys, cc);
      role_actors.push_back(caf::actor_cast<caf::actor>(checkpointer));
      log_line(std::string("checkpointer of run '") + run_id + "' started: every " +
               std::to_string(*checkpoint_every) + " epochs into " + cc.root + ", keeping " +
               (*keep_checkpoints == 0 ? std::string("all") : std::to_string(*keep_checkpoints)) +
               (cc.follow ? "; following the swarm's state" : ""));
    }
    if (run_seeder) {
      seeder::seeder_config sc;
      sc.dir = shards_dir;
      sc.run_id = run_id;
      sc.self = *me;
      sc.host = announce_host;
      sc.port = announce_port.value_or(port);
      sc.dht = node;
      sc.clock = dht::wall_clock_seconds;
      sc.log = log_line;
      auto seeder_handle = caf::actor_cast<caf::actor>(seeder::spawn_seeder(sys, sc));
      caf::anon_send(wire_actor, wire_seeder_atom_v, seeder_handle);
      role_actors.push_back(seeder_handle);
    }
#if TTT_WITH_MODEL
    if (run_trainer) {
      averaging::matchmaker_config mc;
      mc.dht = node;
      mc.self = *me;
      mc.clock = dht::wall_clock_seconds;
      auto matchmaker = averaging::spawn_matchmaker(sys, mc);
      trainer::collaborative_config tc;
      tc.run_id = run_id;
      tc.model = trainer_model;
      tc.dht = node;
      tc.matchmaker = matchmaker;
      tc.averager = averager;
      tc.self = *me;
      if (!*client_mode) {
        tc.declaration.host = announce_host;
        tc.declaration.port = announce_port.value_or(port);
      }
      tc.resolve = [&sys, wire_actor](const averaging::declaration& d) {
        return reach_averager(sys, wire_actor, d.peer, d.host.empty() ? std::string() : d.address());
      };
      tc.checkpointer = checkpointer;
      tc.checkpoint_every = static_cast<uint64_t>(*checkpoint_every);
      tc.share_state = true; // only when reachable: a client-mode trainer serves nothing
      tc.load_state = true;
      tc.resolve_holder = [&sys, wire_actor](const averaging::state_advert& a) {
        return reach_averager(sys, wire_actor, a.peer, a.address());
      };
      tc.progress.target_batch_size = static_cast<uint64_t>(*target_batch);
      tc.vouch_quorum = static_cast<size_t>(*vouch_quorum);
      tc.certificate = admission->certificate;
      tc.volunteer_name = volunteer_name;
      tc.figures = figures;
      tc.round.aggregation = *aggregation;
      tc.round.clip_tau = *clip_tau;
      tc.matchmaking.target_group_size = static_cast<size_t>(*group_size);
      tc.matchmaking.min_group_size = static_cast<size_t>(*min_group_size);
      tc.matchmaking.matchmaking_time = *matchmaking_time;
      tc.epochs = static_cast<uint64_t>(*epochs);
      tc.average_state_every = static_cast<uint64_t>(*average_state_every);
      tc.eval_every = static_cast<uint64_t>(*eval_every);
      tc.overlap_averaging = overlap_averaging.value_or(false);
      tc.clock = dht::wall_clock_seconds;
      tc.log = log_line;
      tc.detached = true;
      bool diloco = trainer_mode.mode == trainer::trainer_mode::diloco;
      auto trainer_actor = diloco ? trainer::spawn_diloco_trainer(sys, tc, trainer_mode.diloco)
                                  : trainer::spawn_collaborative_trainer(sys, tc);
      role_actors.push_back(caf::actor_cast<caf::actor>(matchmaker));
      trainer_handle = caf::actor_cast<caf::actor>(trainer_actor);
      log_line(std::string(diloco ? "DiLoCo" : "hivemind") + " trainer of run '" + run_id +
               "' started on " + mo.config + " with data " + mo.data_dir + ", computing on " +
               trainer_model->device_description() + (tc.overlap_averaging ? ", averaging overlapped with compute" : ""));
      if (*status_every > 0) {
        metrics::volunteer_status_config vs;
        vs.dht = node;
        vs.run_id = run_id;
        vs.self = me->id();
        vs.figures = figures;
        vs.interval = seconds(*status_every);
        vs.clock = dht::wall_clock_seconds;
        vs.log = log_line;
        role_actors.push_back(metrics::spawn_volunteer_status(sys, vs));
      }
    }
#endif

    int sig = 0;
    sigwait(&stop_signals, &sig);
    log_line(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
    dashboard.stop();
    metrics_server.stop();
    if (monitor)
      caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
    // The trainer first; then the checkpointer finishes what the trainer
    // handed it before it stops: an epoch the trainer completed is an epoch
    // a restart resumes from.
    if (trainer_handle) {
      caf::anon_send_exit(trainer_handle, caf::exit_reason::user_shutdown);
      caf::scoped_actor waiter{sys};
      waiter->wait_for(trainer_handle);
    }
    if (checkpointer) {
      // Its mailbox is FIFO: the answer to this no-op request (epoch 0 is
      // never due) comes after every checkpoint requested before it.
      caf::scoped_actor waiter{sys};
      waiter->request(checkpointer, std::chrono::seconds(120), ckpt_save_atom_v,
                      checkpoint::checkpoint_request{})
        .receive([](bool) {}, [](caf::error& err) {
          log_line("checkpointer did not finish: " + describe(err));
        });
    }
    if (publisher)
      publisher->stop(); // after the publication under way
    for (auto& a : role_actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    if (averager)
      caf::anon_send_exit(averager, caf::exit_reason::user_shutdown);
    if (revocation_poller)
      caf::anon_send_exit(revocation_poller, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(wire_actor, caf::exit_reason::user_shutdown);
  } // the actor system waits for every actor; the DHT node saves its peers on exit
  if (auto err = (*db)->flush())
    exit_code = fail(describe(err));
  log_line("stopped");
  return exit_code;
}

} // namespace ttt::apps
