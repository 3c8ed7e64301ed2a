"""The local stack (make up, the e2e tests, make bench) and the test helpers: not shipped in the gitops package."""
