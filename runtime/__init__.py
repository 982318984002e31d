"""Running Jifen's processes: the one configuration file, JSON logging, a service process's
main (metrics, signals, uvloop), and the supervisor that `jifen up` and the load test use."""
