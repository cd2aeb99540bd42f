"""What the tests and the benchmarks share: the fixture tarballs, installs (staged and on throwaway
hosts), throwaway hosts, mail hosts under attack, filter samples and generated logs."""
