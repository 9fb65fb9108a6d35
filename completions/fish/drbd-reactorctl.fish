# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_drbd_reactorctl_global_optspecs
    string join \n c/config= context= nodes= local h/help V/version
end

function __fish_drbd_reactorctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_drbd_reactorctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_drbd_reactorctl_using_subcommand
    set -l cmd (__fish_drbd_reactorctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -s c -l config -d 'Main config file of the daemon (only its `snippets` key is used)' -r -F
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -l local -d 'Never fan out (used for the per-node invocations)'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -s V -l version -d 'Print version'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "cat" -d '(Pretty) print config files'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "disable" -d 'Disable plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "edit" -d 'Edit/Add a plugin configuration'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "enable" -d 'Enable plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "evict" -d 'Evict a promoter plugin controlled resource'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "ls" -d 'List plugins and show some useful, brief information'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "restart" -d 'Restart a plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "rm" -d 'Remove plugin configuration'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "start-until" -d 'Start reactor target until specified service in start list'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "status" -d 'Status information for a plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "generate-completion" -d 'Generate tab-completion for shell'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand cat" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand cat" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand cat" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand disable" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand disable" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand disable" -l now -d 'Also stop the promoter targets of the disabled snippets'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand disable" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -s t -l type -d 'Template for a new file and the plugin type the result must have (default for new files: promoter; existing files keep their type)' -r -f -a "agentx\t''
debugger\t''
prometheus\t''
promoter\t''
umh\t''"
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -s f -l force -d 'Accept a mount unit as the topmost unit of a promoter (warning only)'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -l disabled -d 'Edit disabled snippets (X.toml.disabled)'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand edit" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand enable" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand enable" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand enable" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -s d -l delay -d 'Seconds to wait for a peer to take over' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -s f -l force -d 'Allow snippets with other plugins and promoters with several resources'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -s k -l keep-masked -d 'Leave the target masked after evicting'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -s u -l unmask -d 'Only undo a previous --keep-masked'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand evict" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand ls" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand ls" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand ls" -l disabled -d 'List only disabled snippets'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand ls" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand restart" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand restart" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand restart" -l with-targets -d 'Also stop the promoter targets between disable and enable'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand restart" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand rm" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand rm" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand rm" -s f -l force -d 'Do not ask'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand rm" -l disabled -d 'Remove disabled snippets (X.toml.disabled)'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand rm" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand start-until" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand start-until" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand start-until" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -s r -l resource -d 'Limit promoter entries to these DRBD resources' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -s v -l verbose -d 'Test prometheus endpoints with a TCP connect'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -l json -d 'One JSON object instead of text'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand generate-completion" -l context -d 'Cluster context (a file in ~/.config/drbd-reactorctl/); \'none\' or \'local\' = this node only' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand generate-completion" -l nodes -d 'Comma-separated node names of the context to use' -r
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand generate-completion" -s h -l help -d 'Print help'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "cat" -d '(Pretty) print config files'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "disable" -d 'Disable plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "edit" -d 'Edit/Add a plugin configuration'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "enable" -d 'Enable plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "evict" -d 'Evict a promoter plugin controlled resource'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "ls" -d 'List plugins and show some useful, brief information'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "restart" -d 'Restart a plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "rm" -d 'Remove plugin configuration'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "start-until" -d 'Start reactor target until specified service in start list'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "status" -d 'Status information for a plugin'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "generate-completion" -d 'Generate tab-completion for shell'
complete -c drbd-reactorctl -n "__fish_drbd_reactorctl_using_subcommand help; and not __fish_seen_subcommand_from cat disable edit enable evict ls restart rm start-until status generate-completion help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
