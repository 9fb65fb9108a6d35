complete -c drbd-reactor -s c -l config -d 'Main configuration file' -r -F
complete -c drbd-reactor -l allow-tty -d 'Allow running while attached to a terminal (normally systemd starts the daemon)'
complete -c drbd-reactor -l health -d 'Check the running daemon\'s health (events2 running, initial dump applied, daemon alive) from `$DRBD_REACTOR_RUN_DIR/health` (default /run/drbd-reactor/health) and exit 0 if healthy, 1 otherwise. For container and Kubernetes probes; reads no configuration'
complete -c drbd-reactor -l check -d 'Validate the configuration file and its snippets without starting: print every problem (file:line: key: what) and exit 1 if there is any, 0 otherwise'
complete -c drbd-reactor -s h -l help -d 'Print help (see more with \'--help\')'
complete -c drbd-reactor -s V -l version -d 'Print version'
