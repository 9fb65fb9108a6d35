complete -c ocf-rs-wrapper -f -n __fish_is_first_arg -a 'start-and-monitor stop'
