// Precompiled for the model tests: libtorch's headers parsed once. (Boost.Test
// stays out: BOOST_TEST_MODULE must come before its first inclusion.)
#include <torch/torch.h>
