// `ttt bench train` without the ttt program, for measuring while the
// dispatcher in apps/bench_command.cpp is elsewhere: same arguments.
#include "model/bench_train.hpp"

int main(int argc, char** argv) { return ttt::model::run_train_benchmark({argv + 1, argv + argc}); }
