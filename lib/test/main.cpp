// libattest_main: the main() of test binaries made only of ATTEST_TESTs.
#include "attest/test.hpp"

int main(int argc, char** argv) { return attest::testing::attest_main(argc, argv); }
