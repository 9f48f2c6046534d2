// Precompiled for the model tests: the same libtorch headers model/ parses
// once, taken from model/ so that libtorch stays behind model/'s own files.
// (Boost.Test stays out: BOOST_TEST_MODULE must come before its first inclusion.)
#include "model/pch/model_pch.hpp"
