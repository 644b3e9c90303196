// tests/main.cpp — doctest's main for the single test runner; suites live beside it in folders
// that mirror the source tree (tests/core, tests/autograd, tests/ops, ...).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
