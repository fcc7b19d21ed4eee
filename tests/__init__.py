"""The test suite: one folder per part of the package (harness/<part>/, samplers/), helpers in support/."""
