#include "actors/averager/allreduce.hpp"

#include "actors/averager/centered_clip.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

namespace ttt::averaging {

namespace {

constexpr size_t max_refusals_kept = 64;

caf::error invalid(std::string text) {
  return caf::make_error(caf::sec::invalid_argument, "averaging: " + std::move(text));
}

bool is_reducer_mode(peer_mode m) {
  return m == peer_mode::node || m == peer_mode::aux;
}

} // namespace

bool round_result::partial() const {
  return std::any_of(spans.begin(), spans.end(), [](const span_report& s) { return s.partial(); });
}

void bound_bandwidths(std::vector<member_info>& members, double max_ratio, double max_bandwidth) {
  std::vector<double> declared;
  for (const auto& m : members)
    if (is_reducer_mode(m.mode) && m.bandwidth > 0)
      declared.push_back(m.bandwidth);
  if (declared.empty())
    return;
  auto lower_median = declared.begin() + static_cast<long>((declared.size() - 1) / 2);
  std::nth_element(declared.begin(), lower_median, declared.end());
  const double cap = std::min(max_bandwidth, max_ratio * *lower_median);
  for (auto& m : members)
    if (is_reducer_mode(m.mode))
      m.bandwidth = std::min(m.bandwidth, cap);
}

caf::expected<aggregation_rule> parse_aggregation(std::string_view name) {
  if (name == "mean")
    return aggregation_rule::mean;
  if (name == "centered_clip")
    return aggregation_rule::centered_clip;
  return invalid("aggregation must be mean or centered_clip, not '" + std::string(name) + "'");
}

std::string to_string(aggregation_rule rule) {
  return rule == aggregation_rule::centered_clip ? "centered_clip" : "mean";
}

std::vector<element_range> partition_spans(const std::vector<member_info>& members,
                                           uint64_t total) {
  std::vector<element_range> spans(members.size());
  long double bandwidth_sum = 0;
  for (const auto& m : members)
    if (is_reducer_mode(m.mode) && m.bandwidth > 0)
      bandwidth_sum += m.bandwidth;
  if (bandwidth_sum <= 0 || total == 0)
    return spans;
  std::vector<uint64_t> sizes(members.size(), 0);
  std::vector<std::pair<long double, size_t>> remainders;
  uint64_t assigned = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    const auto& m = members[i];
    if (!is_reducer_mode(m.mode) || !(m.bandwidth > 0))
      continue;
    long double exact = static_cast<long double>(total) * m.bandwidth / bandwidth_sum;
    sizes[i] = static_cast<uint64_t>(std::floor(exact));
    assigned += sizes[i];
    remainders.emplace_back(exact - static_cast<long double>(sizes[i]), i);
  }
  // Ties go to the earlier member, so every member computes the same split.
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < total; k = (k + 1) % remainders.size(), ++assigned)
    sizes[remainders[k].second] += 1;
  uint64_t at = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    spans[i] = {at, at + sizes[i]};
    at += sizes[i];
  }
  return spans;
}

caf::expected<allreduce_round> allreduce_round::make(group_info group, size_t self_index,
                                                     std::vector<float> values, double weight,
                                                     uint64_t total_elements,
                                                     round_config config, time_point now) {
  const size_t n = group.members.size();
  if (n == 0)
    return invalid("empty group");
  if (self_index >= n)
    return invalid("self index outside the group");
  std::set<std::string> ids;
  size_t reducers = 0;
  for (const auto& m : group.members) {
    if (m.peer_id.empty() || !ids.insert(m.peer_id).second)
      return invalid("peer ids must be non-empty and unique");
    if (!std::isfinite(m.bandwidth) || m.bandwidth < 0)
      return invalid("bandwidth must be finite and >= 0");
    if (is_reducer_mode(m.mode) && m.bandwidth > 0)
      ++reducers;
    if (static_cast<uint8_t>(m.mode) > static_cast<uint8_t>(peer_mode::aux))
      return invalid("unknown peer mode");
  }
  if (reducers == 0 && total_elements > 0)
    return invalid("no member can reduce (all clients or zero bandwidth)");
  const bool self_aux = group.members[self_index].mode == peer_mode::aux;
  if (self_aux && !values.empty())
    return invalid("an aux member contributes no values");
  if (!self_aux && values.size() != total_elements)
    return invalid("vector holds " + std::to_string(values.size()) + " values, the round "
                   + std::to_string(total_elements));
  if (!self_aux && !(std::isfinite(weight) && weight > 0))
    return invalid("weight must be finite and > 0");
  if (!self_aux)
    for (float v : values)
      if (!std::isfinite(v))
        return invalid("own vector holds a non-finite value");
  if (config.part_elements == 0 || config.part_elements > default_part_elements)
    return invalid("part_elements must be in 1.." + std::to_string(default_part_elements));
  if (config.reducer_timeout <= config.sender_timeout)
    return invalid("reducer_timeout must exceed sender_timeout");
  if (static_cast<uint8_t>(config.aggregation) > static_cast<uint8_t>(aggregation_rule::centered_clip))
    return invalid("unknown aggregation");
  if (!(std::isfinite(config.clip_tau) && config.clip_tau > 0))
    return invalid("clip_tau must be finite and > 0");
  if (config.clip_iterations < 1 || config.clip_iterations > 1000)
    return invalid("clip_iterations must be in 1..1000");
  if (!(std::isfinite(config.max_weight) && config.max_weight > 0 && config.max_weight <= 1e12))
    return invalid("max_weight must be in (0, 1e12]");
  uint64_t layout_sum = std::accumulate(config.tensor_sizes.begin(), config.tensor_sizes.end(),
                                        uint64_t{0});
  if (!config.tensor_sizes.empty() && layout_sum != total_elements)
    return invalid("tensor sizes sum to " + std::to_string(layout_sum) + ", not "
                   + std::to_string(total_elements));

  allreduce_round r;
  r.group_ = std::move(group);
  r.self_ = self_index;
  r.config_ = std::move(config);
  r.total_ = total_elements;
  r.weight_ = weight;
  if (r.config_.tensor_sizes.empty())
    r.tensor_ends_.push_back(total_elements);
  else
    std::partial_sum(r.config_.tensor_sizes.begin(), r.config_.tensor_sizes.end(),
                     std::back_inserter(r.tensor_ends_));
  r.spans_ = partition_spans(r.group_.members, total_elements);
  r.values_ = std::move(values);
  r.scratch_.resize(std::min<uint64_t>(r.config_.part_elements, total_elements));
  r.gone_.assign(n, false);
  r.sender_dropped_.assign(n, false);
  r.reducer_dropped_.assign(n, false);
  r.last_heard_.assign(n, now);
  r.last_finalized_ = now;

  r.my_parts_ = r.parts_of(self_index);
  r.my_parts_left_ = r.my_parts_;
  if (r.my_parts_ > 0) {
    if (r.clipping())
      r.held_.resize(r.my_parts_ * n);
    else
      r.sums_.assign(r.spans_[self_index].size(), 0.0);
    r.part_weight_.assign(r.my_parts_, 0.0);
    r.received_.assign(r.my_parts_ * n, 0);
    r.part_done_.assign(r.my_parts_, false);
  }
  r.received_count_.assign(n, 0);
  r.sender_weight_.assign(n, std::nullopt);
  r.left_out_any_.assign(n, false);
  r.clipped_any_.assign(n, false);
  r.capped_any_.assign(n, false);

  r.result_received_.resize(n);
  r.results_left_.assign(n, 0);
  r.left_out_of_span_.assign(n, std::vector<bool>(n, false));
  r.reducer_failed_.assign(n, false);
  r.parts_missing_.assign(n, 0);
  r.next_part_.assign(n, 0);
  if (!self_aux) {
    for (size_t m = 0; m < n; ++m) {
      if (m == self_index)
        continue;
      uint64_t parts = r.parts_of(m);
      r.result_received_[m].assign(parts, false);
      r.results_left_[m] = parts;
      r.results_left_total_ += parts;
    }
  }
  r.rotation_ = (self_index + 1) % n;
  return r;
}

uint64_t allreduce_round::parts_of(size_t reducer) const {
  uint64_t size = spans_[reducer].size();
  return (size + config_.part_elements - 1) / config_.part_elements;
}

element_range allreduce_round::part_range(size_t reducer, uint64_t part) const {
  const auto& span = spans_[reducer];
  uint64_t begin = span.begin + part * config_.part_elements;
  return {begin, std::min(span.end, begin + config_.part_elements)};
}

template <class F>
void for_each_segment(const std::vector<uint64_t>& tensor_ends, const codec_choice& codecs,
                      element_range r, F&& f) {
  // One segment per tensor the range touches, each with that tensor's codec.
  auto it = std::upper_bound(tensor_ends.begin(), tensor_ends.end(), r.begin);
  uint64_t at = r.begin;
  while (at < r.end) {
    uint64_t tensor_end = *it;
    uint64_t tensor_begin = it == tensor_ends.begin() ? 0 : *(it - 1);
    uint64_t seg_end = std::min(r.end, tensor_end);
    f(codecs.for_tensor(tensor_end - tensor_begin), at - r.begin, seg_end - at);
    at = seg_end;
    ++it;
  }
}

uint64_t allreduce_round::encoded_range_size(element_range r) const {
  uint64_t total = 0;
  for_each_segment(tensor_ends_, config_.codecs, r,
                   [&](codec c, uint64_t, uint64_t count) { total += encoded_size(c, count); });
  return total;
}

void allreduce_round::encode_range_to(element_range r, const float* data, char* out) const {
  for_each_segment(tensor_ends_, config_.codecs, r, [&](codec c, uint64_t offset, uint64_t count) {
    out = encode_to(c, caf::span<const float>(data + offset, count), out);
  });
}

void allreduce_round::encode_range(element_range r, const float* data, std::string& out) const {
  size_t at = out.size();
  out.resize(at + encoded_range_size(r));
  encode_range_to(r, data, &out[at]);
}

caf::error allreduce_round::decode_range(element_range r, std::string_view bytes,
                                         float* out) const {
  auto it = std::upper_bound(tensor_ends_.begin(), tensor_ends_.end(), r.begin);
  uint64_t at = r.begin;
  while (at < r.end) {
    uint64_t seg_end = std::min(r.end, *it);
    if (auto err = decode(bytes, caf::span<float>(out + (at - r.begin), seg_end - at)))
      return err;
    at = seg_end;
    ++it;
  }
  if (!bytes.empty())
    return invalid("trailing bytes after the part's segments");
  return caf::none;
}

caf::error allreduce_round::refuse(std::string reason) {
  ++result_.refused_count;
  if (result_.refused.size() < max_refusals_kept)
    result_.refused.push_back(reason);
  return invalid(std::move(reason));
}

std::optional<size_t> allreduce_round::member_index(std::string_view peer_id) const {
  for (size_t i = 0; i < group_.members.size(); ++i)
    if (group_.members[i].peer_id == peer_id)
      return i;
  return std::nullopt;
}

void allreduce_round::start(const send_fn& send) {
  if (my_parts_ == 0 || !is_contributor(self_))
    return;
  // This member's own values count like any other contributor's parts.
  // (With centered_clip they stay in values_ until their part is reduced.)
  const auto& span = spans_[self_];
  if (!clipping())
    for (uint64_t i = 0; i < span.size(); ++i)
      sums_[i] = capped_weight(self_) * static_cast<double>(values_[span.begin + i]);
  for (uint64_t p = 0; p < my_parts_; ++p) {
    part_weight_[p] = capped_weight(self_);
    received_[p * group_.members.size() + self_] = 1;
  }
  received_count_[self_] = my_parts_;
  for (uint64_t p = 0; p < my_parts_; ++p)
    try_finalize(p, send);
}

bool allreduce_round::may_send_to(size_t r) const {
  if (r == self_ || reducer_dropped_[r] || next_part_[r] >= parts_of(r) || results_left_[r] == 0)
    return false;
  uint64_t answered = parts_of(r) - results_left_[r];
  return config_.send_window_parts == 0 || next_part_[r] - answered < config_.send_window_parts;
}

bool allreduce_round::parts_pending() const {
  if (!is_contributor(self_))
    return false;
  for (size_t r = 0; r < group_.members.size(); ++r)
    if (may_send_to(r))
      return true;
  return false;
}

size_t allreduce_round::send_parts(size_t max_messages, const send_fn& send) {
  if (!is_contributor(self_))
    return 0;
  const size_t n = group_.members.size();
  size_t sent = 0;
  size_t idle = 0; // reducers in a row with nothing left to send
  while (sent < max_messages && idle < n) {
    size_t r = rotation_;
    rotation_ = (rotation_ + 1) % n;
    if (!may_send_to(r)) {
      ++idle;
      continue;
    }
    idle = 0;
    uint64_t p = next_part_[r]++;
    auto range = part_range(r, p);
    part_message msg;
    msg.group_id = group_.group_id;
    msg.sender_id = group_.members[self_].peer_id;
    msg.kind = message_kind::part;
    msg.part_index = static_cast<uint32_t>(p);
    msg.weight = weight_;
    msg.values_size = encoded_range_size(range);
    const float* data = values_.data() + range.begin;
    msg.write_values = [this, range, data](char* out) { encode_range_to(range, data, out); };
    result_.bytes_sent += msg.values_size;
    send({r}, std::move(msg));
    ++sent;
  }
  return sent;
}

caf::error allreduce_round::on_message(const part_view& msg, time_point now,
                                       const send_fn& send) {
  if (msg.group_id != group_.group_id)
    return refuse("wrong group id");
  auto sender = member_index(msg.sender_id);
  if (!sender)
    return refuse("sender is not a member of the group");
  if (*sender == self_)
    return refuse("message claims to come from this member");
  if (gone_[*sender])
    return refuse("member " + std::to_string(*sender) + " was already dropped from the round");
  result_.bytes_received += msg.values.size();
  const uint64_t unfinished = my_parts_left_;
  caf::error err = msg.kind == message_kind::part ? on_part(*sender, msg, send)
                                                  : on_result(*sender, msg);
  if (my_parts_left_ != unfinished)
    last_finalized_ = now;
  if (err)
    return err;
  last_heard_[*sender] = now;
  return caf::none;
}

caf::error allreduce_round::on_part(size_t sender, const part_view& msg, const send_fn& send) {
  const size_t n = group_.members.size();
  if (my_parts_ == 0)
    return refuse("this member reduces no span");
  if (!is_contributor(sender))
    return refuse("an aux member sent values");
  if (msg.part_index >= my_parts_)
    return refuse("part index " + std::to_string(msg.part_index) + " outside the span");
  if (sender_dropped_[sender])
    return refuse("member " + std::to_string(sender) + " was dropped as a sender");
  if (received_[msg.part_index * n + sender] || part_done_[msg.part_index])
    return refuse("duplicate or late part " + std::to_string(msg.part_index));
  // From here on the sender is a member that broke the protocol: it is
  // dropped, so that the reducer never waits for a peer it cannot trust.
  auto fail = [&](std::string reason) {
    auto err = refuse("part from member " + std::to_string(sender) + ": " + reason);
    drop_sender(sender, send);
    return err;
  };
  if (!(std::isfinite(msg.weight) && msg.weight > 0))
    return fail("weight must be finite and > 0");
  if (sender_weight_[sender] && *sender_weight_[sender] != msg.weight)
    return fail("weight changed within the round");
  // Honest contributors never run ahead of their window (results are the
  // acknowledgements, and parts complete no earlier than their results go
  // out), so this bounds what centered_clip holds per contributor.
  const uint64_t finalized = my_parts_ - my_parts_left_;
  if (clipping() && config_.send_window_parts > 0
      && msg.part_index >= finalized + config_.send_window_parts)
    return fail("part " + std::to_string(msg.part_index) + " beyond the send window");
  auto range = part_range(self_, msg.part_index);
  if (clipping()) {
    auto held = take_buffer(range.size());
    if (auto err = decode_range(range, msg.values, held.data())) {
      spare_.push_back(std::move(held));
      return fail(to_string(err));
    }
    held_[msg.part_index * n + sender] = std::move(held);
  } else if (auto err = decode_range(range, msg.values, scratch_.data())) {
    return fail(to_string(err));
  }
  sender_weight_[sender] = msg.weight;
  const double weight = capped_weight(sender);
  if (weight < msg.weight)
    capped_any_[sender] = true;
  if (!clipping()) {
    const uint64_t offset = range.begin - spans_[self_].begin;
    for (uint64_t i = 0; i < range.size(); ++i)
      sums_[offset + i] += weight * static_cast<double>(scratch_[i]);
  }
  part_weight_[msg.part_index] += weight;
  received_[msg.part_index * n + sender] = 1;
  received_count_[sender] += 1;
  try_finalize(msg.part_index, send);
  return caf::none;
}

caf::error allreduce_round::on_result(size_t reducer, const part_view& msg) {
  if (!is_contributor(self_))
    return refuse("an aux member receives no results");
  if (reducer_dropped_[reducer])
    return refuse("member " + std::to_string(reducer) + " was dropped as a reducer");
  if (msg.part_index >= result_received_[reducer].size())
    return refuse("result part " + std::to_string(msg.part_index) + " outside member "
                  + std::to_string(reducer) + "'s span");
  if (result_received_[reducer][msg.part_index])
    return refuse("duplicate result part " + std::to_string(msg.part_index));
  for (auto c : msg.left_out)
    if (c >= group_.members.size() || !is_contributor(c))
      return refuse("result names an unknown contributor");
  auto range = part_range(reducer, msg.part_index);
  if (auto err = decode_range(range, msg.values, scratch_.data())) {
    auto refusal = refuse("result from member " + std::to_string(reducer) + ": " + to_string(err));
    drop_reducer(reducer);
    return refusal;
  }
  std::memcpy(values_.data() + range.begin, scratch_.data(), range.size() * sizeof(float));
  result_received_[reducer][msg.part_index] = true;
  results_left_[reducer] -= 1;
  results_left_total_ -= 1;
  for (auto c : msg.left_out)
    left_out_of_span_[reducer][c] = true;
  return caf::none;
}

void allreduce_round::try_finalize(uint64_t part, const send_fn& send) {
  const size_t n = group_.members.size();
  if (part_done_[part])
    return;
  std::vector<uint32_t> left_out;
  for (size_t c = 0; c < n; ++c) {
    if (!is_contributor(c) || received_[part * n + c])
      continue;
    if (!sender_dropped_[c])
      return; // still waiting for a live contributor
    left_out.push_back(static_cast<uint32_t>(c));
  }
  part_done_[part] = true;
  my_parts_left_ -= 1;
  for (auto c : left_out)
    left_out_any_[c] = true;
  double total_weight = part_weight_[part];
  auto range = part_range(self_, part);
  if (total_weight <= 0)
    return; // no contributor is left to receive this part
  if (clipping()) {
    finalize_clipped(part, range);
  } else {
    const uint64_t offset = range.begin - spans_[self_].begin;
    for (uint64_t i = 0; i < range.size(); ++i)
      scratch_[i] = static_cast<float>(sums_[offset + i] / total_weight);
  }
  part_message msg;
  msg.group_id = group_.group_id;
  msg.sender_id = group_.members[self_].peer_id;
  msg.kind = message_kind::result;
  msg.part_index = static_cast<uint32_t>(part);
  msg.left_out = left_out;
  msg.values_size = encoded_range_size(range);
  const float* means = scratch_.data();
  msg.write_values = [this, range, means](char* out) { encode_range_to(range, means, out); };
  if (is_contributor(self_)) {
    // Keep exactly what the others receive, so every member ends with
    // bit-identical values even under a lossy codec.
    if (config_.codecs.small == codec::none && config_.codecs.large == codec::none) {
      std::memcpy(values_.data() + range.begin, scratch_.data(), range.size() * sizeof(float));
    } else {
      std::string encoded;
      encode_range(range, scratch_.data(), encoded);
      (void) decode_range(range, encoded, values_.data() + range.begin);
    }
  }
  std::vector<size_t> receivers;
  for (size_t m = 0; m < n; ++m)
    if (m != self_ && !gone_[m] && is_contributor(m))
      receivers.push_back(m);
  if (receivers.empty())
    return;
  result_.bytes_sent += msg.values_size * receivers.size();
  send(receivers, std::move(msg));
}

double allreduce_round::capped_weight(size_t contributor) const {
  if (contributor == self_)
    return std::min(weight_, config_.max_weight);
  return std::min(sender_weight_[contributor].value_or(0.0), config_.max_weight);
}

std::vector<float> allreduce_round::take_buffer(uint64_t size) {
  std::vector<float> out;
  if (!spare_.empty()) {
    out = std::move(spare_.back());
    spare_.pop_back();
  }
  out.resize(size);
  return out;
}

void allreduce_round::finalize_clipped(uint64_t part, element_range range) {
  const size_t n = group_.members.size();
  std::vector<const float*> inputs;
  std::vector<double> weights;
  std::vector<size_t> who;
  for (size_t c = 0; c < n; ++c) {
    if (!is_contributor(c) || !received_[part * n + c])
      continue;
    inputs.push_back(c == self_ ? values_.data() + range.begin : held_[part * n + c].data());
    weights.push_back(capped_weight(c));
    who.push_back(c);
  }
  clip_settings settings;
  settings.tau = config_.clip_tau;
  settings.max_iterations = config_.clip_iterations;
  auto outcome = centered_clip(inputs, weights, range.size(), settings, scratch_.data(), clip_work_);
  for (size_t i = 0; i < who.size(); ++i)
    if (outcome.clipped[i])
      clipped_any_[who[i]] = true;
  for (size_t c = 0; c < n; ++c) {
    auto& held = held_[part * n + c];
    if (!held.empty())
      spare_.push_back(std::move(held));
    held = {};
  }
  // Spares beyond a window's worth would only hold memory.
  const size_t keep = config_.send_window_parts == 0 ? n : n * config_.send_window_parts;
  if (spare_.size() > keep)
    spare_.resize(keep);
}

void allreduce_round::drop_reducer(size_t member) {
  reducer_dropped_[member] = true;
  if (results_left_[member] > 0) {
    reducer_failed_[member] = true;
    parts_missing_[member] = results_left_[member];
    results_left_total_ -= results_left_[member];
    results_left_[member] = 0;
  }
}

void allreduce_round::drop_sender(size_t member, const send_fn& send) {
  if (sender_dropped_[member])
    return;
  sender_dropped_[member] = true;
  for (uint64_t p = 0; p < my_parts_; ++p)
    try_finalize(p, send);
}

void allreduce_round::mark_gone(size_t member, const send_fn& send) {
  if (gone_[member] || member == self_)
    return;
  gone_[member] = true;
  drop_reducer(member);
  drop_sender(member, send);
}

void allreduce_round::on_member_failed(size_t member, const send_fn& send) {
  if (member < group_.members.size())
    mark_gone(member, send);
}

void allreduce_round::on_tick(time_point now, const send_fn& send) {
  const uint64_t unfinished = my_parts_left_;
  const uint64_t finalized = my_parts_ - my_parts_left_;
  for (size_t m = 0; m < group_.members.size(); ++m) {
    if (m == self_ || gone_[m])
      continue;
    // A contributor whose window this member holds closed (its parts wait
    // for others' parts) is not silent by its own fault; nor is one whose
    // window opened only recently.
    bool window_open = config_.send_window_parts == 0
                       || received_count_[m] - finalized < config_.send_window_parts;
    bool owes_parts = my_parts_left_ > 0 && is_contributor(m) && !sender_dropped_[m]
                      && received_count_[m] < my_parts_ && window_open;
    bool owes_results = results_left_[m] > 0;
    auto silent_as_sender = now - std::max(last_heard_[m], last_finalized_);
    auto silent = now - last_heard_[m];
    if ((owes_parts && silent_as_sender > config_.sender_timeout)
        || (owes_results && silent > config_.reducer_timeout))
      mark_gone(m, send);
  }
  if (my_parts_left_ != unfinished)
    last_finalized_ = now;
}

bool allreduce_round::done() const {
  return my_parts_left_ == 0 && results_left_total_ == 0;
}

round_result allreduce_round::take_result() {
  const size_t n = group_.members.size();
  result_.contributed.assign(n, 0.0);
  for (size_t c = 0; c < n; ++c)
    if (c == self_ || sender_weight_[c])
      result_.contributed[c] = capped_weight(c);
  for (size_t r = 0; r < n; ++r) {
    if (spans_[r].size() == 0)
      continue;
    span_report report;
    report.reducer = r;
    report.range = spans_[r];
    if (r == self_) {
      for (size_t c = 0; c < n; ++c) {
        if (left_out_any_[c])
          report.left_out.push_back(c);
        if (clipped_any_[c])
          report.clipped.push_back(c);
        if (capped_any_[c])
          report.weight_capped.push_back(c);
      }
    } else {
      report.reducer_failed = reducer_failed_[r];
      report.parts_missing = parts_missing_[r];
      for (size_t c = 0; c < n; ++c)
        if (left_out_of_span_[r][c])
          report.left_out.push_back(c);
    }
    result_.spans.push_back(std::move(report));
  }
  result_.values = std::move(values_);
  sums_ = {};
  held_ = {};
  spare_ = {};
  clip_work_ = {};
  return std::move(result_);
}

} // namespace ttt::averaging
