# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_lokal_global_optspecs
    string join \n store= tenant= h/help V/version
end

function __fish_lokal_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_lokal_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_lokal_using_subcommand
    set -l cmd (__fish_lokal_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c lokal -n "__fish_lokal_needs_command" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_needs_command" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_needs_command" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_needs_command" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "ingest" -d 'Read log files, globs, directories or stdin into the store'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "query" -d 'Run a LogQL query (log or metric) over the store'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "instant-query" -d 'Evaluate a LogQL metric query at one instant'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "push" -d 'Send stored streams to a Grafana Loki (protobuf+snappy or JSON), resuming from a checkpoint'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "index" -d 'Rebuild the label index of every day, or of the given days'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "compact" -d 'Merge each day\'s small segments, apply retention and pending deletes (for cron)'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "delete" -d 'Delete entries (a selector with line filters, a time range), as Loki\'s delete API'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "labels" -d 'List label names, or the values of one label'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "series" -d 'List the streams a selector matches (--analyze-labels: cardinality per label)'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "stats" -d 'Per tenant and day: streams, entries, segments, block sizes, bytes, time range, whether compact helps'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "test" -d 'Unit-test LogQL with Loki\'s .logqltest scripts'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "check" -d 'Check the whole store (manifest, every segment block, indexes); --repair fixes it'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "verify" -d 'Check the whole store (manifest, every segment block, indexes); --repair fixes it'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "rules" -d 'Alerting and recording rules: check, lint, evaluate (alerts to Alertmanager), test'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "serve" -d 'Serve Loki\'s HTTP API over the store (query, labels, series, push) for Loki\'s clients'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "fmt" -d 'Parse a LogQL query and print its canonical form'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish)'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "man" -d 'Write man pages into a directory'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "dump" -d 'Print every stored entry (debugging aid)'
complete -c lokal -n "__fish_lokal_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l config -d 'A promtail config: read the files of its scrape_configs (static_configs\' __path__ and __path_exclude__) with their labels, and run each entry through its pipeline_stages' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l format -d 'Input format' -r -f -a "auto\t'One entry per line (plain, JSON or logfmt); timestamps detected per line'
logcli\t'What `logcli query -o jsonl` prints: labels and timestamps come along'
loki-push\t'Loki push API JSON bodies (`{"streams":[…]}`)'"
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s l -l label -d 'Static label for every stream, NAME=VALUE (repeatable)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l label-from-path -d 'Regex on the absolute path whose named groups become labels' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l timestamp-format -d 'Timestamp layout, for what detection does not find: strftime (%Y-%m-%d %H:%M:%S), a Go layout (2006-01-02 15:04:05), a promtail name (RFC3339, Unix, UnixMs…) or dmesg (seconds since boot, see --boot-time); matched at the line start unless --timestamp-regex. A file where it matches none of the first lines, or gives only dates before 1990 or after the file\'s modification time, is skipped with a message' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l timestamp-regex -d 'Regex whose group `ts` (or first group) holds the timestamp' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l year -d 'Year for dates written without one (syslog, klog, logcat, proxifier). Without it, every such date of a file gets: the year nearest the file\'s lines that carry a full date, if any; else the year of the file\'s modification time, or the year before when that would put the date more than a day after the modification time (a December log read in January)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l boot-time -d 'Boot time for --timestamp-format dmesg (RFC 3339, unix seconds…) [default: this machine\'s]' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l timezone -d 'Time zone for timestamps without an offset (IANA name such as Europe/Paris, or UTC)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l multiline-start -d 'A line matching this regex starts a new entry; other lines join the current one' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l multiline-max-lines -d 'Most lines in one multiline entry' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l max-line-size -d 'Longest line accepted (Loki\'s max_line_size)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l max-labels-per-stream -d 'Most labels per stream (Loki\'s max_label_names_per_series)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l max-label-name-length -d 'Longest label name' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l max-label-value-length -d 'Longest label value' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l batch-size -d 'Memory for one batch of input: its bytes plus 96 per line and 160 per stream; peak RSS stays under about 2x this + 20MB' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l compression-level -d 'zstd compression level of blocks' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l lock-timeout -d 'Give up if another writer holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l compact -d 'At the end of the run, merge the days it left in many segments of small runs into one segment each, as `lokal compact` would (without retention or deletes)' -r -f -a "auto\t'Merge each day the run wrote to that it left in more segments than `lokal compact` would write, when its streams\' runs there are small (many streams, a few entries of each per batch)'
never\t'Leave every day as the batches wrote it'"
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s o -l output -d 'Summary format' -r -f -a "table\t'A table'
json\t'One JSON object'"
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l head -d 'With --dry-run: how many first entries of each input to show' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l commit-interval -d 'With --follow: commit at most this often while files change (Go duration)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l commit-bytes -d 'With --follow: commit sooner once this many bytes were appended (also the most one commit reads)' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l poll-interval -d 'With --follow: how often files are checked when inotify is not used' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l partial-line-timeout -d 'With --follow: store a last line that has no newline yet once its file has not changed for this long' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l config-expand-env -d 'With --config: replace ${VAR} and ${VAR:-default} in it by environment variables first (promtail\'s -config.expand-env)'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s r -l recursive -d 'Walk directories recursively'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l no-filename-label -d 'Do not add the `filename` label promtail adds'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l truncate-long-lines -d 'Cut longer lines to --max-line-size instead of rejecting them'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l dedupe -d 'Drop exact (timestamp, line) repeats within a stream, as Loki does'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l from-start -d 'Ignore stored positions: read every input from its start'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l binary -d 'Ingest files that look binary (NUL bytes) instead of skipping them'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l no-index -d 'Do not update the label index (queries read segment footers until `lokal index`)'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s q -l quiet -d 'No progress bar and no summary'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l dry-run -d 'Store nothing: read the inputs and show, per input, the timestamp format found, the stream\'s labels, the first entries with their times, and the counts (no store is opened or created; stored positions are not used)'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s F -l follow -d 'Keep running and store lines as they are appended, as `tail -F` follows files: new files matching the globs are picked up, rotations (create, rename, copytruncate) followed; SIGTERM or Ctrl-C commits what was read and exits 0'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -l no-inotify -d 'With --follow: poll every --poll-interval instead of using inotify'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand ingest" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l since -d 'Look back this far from now (e.g. 1h, 2d). Without --since/--from/--to the whole store is searched (a query: the time range of the streams it selects): a local store holds what was put in it, so logcli\'s 1h default would hide yesterday\'s CI logs' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l from -d 'Start (inclusive): RFC 3339, a date, unix seconds, or now-2h' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l limit -d 'Most entries to return; 0 = all (logcli\'s default is 30)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -s o -l output -d 'Output format' -r -f -a "default\t'Log queries: logcli\'s timestamp, labels (without the common ones), line; metric queries: summary on a terminal, else table'
raw\t'The line only'
jsonl\t'One JSON object per entry: labels, line, timestamp'
json\t'The body of Loki\'s /loki/api/v1/query_range response'
table\t'Metric queries: every step a row, every series a column, exact values (the default off a terminal); log queries: as default'
summary\t'Metric queries: one row per series with a sparkline and min/max/last/mean in readable numbers, fitted to the width (the default on a terminal); log queries: as default'"
complete -c lokal -n "__fish_lokal_using_subcommand query" -l output-timestamp-format -d 'Timestamp format of the default output (-o jsonl always prints RFC 3339 with nanoseconds)' -r -f -a "rfc3339\t'2006-01-02T15:04:05Z07:00'
rfc3339nano\t'2006-01-02T15:04:05.999999999Z07:00'
rfc822z\t'02 Jan 06 15:04 -0700'
rfc1123z\t'Mon, 02 Jan 2006 15:04:05 -0700'
stampmicro\t'Jan _2 15:04:05.000000'
stampmilli\t'Jan _2 15:04:05.000'
stampnano\t'Jan _2 15:04:05.000000000'
unixdate\t'Mon Jan _2 15:04:05 MST 2006'
unixnano\t'Unix nanoseconds (lokal\'s; not in logcli)'"
complete -c lokal -n "__fish_lokal_using_subcommand query" -l include-label -d 'Print only these labels (repeatable); they are never left out as common labels' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l exclude-label -d 'Do not print these labels (repeatable)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l labels-length -l fixed-labels-len -d 'Pad the labels of the default output to at least N bytes' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l plot -d 'Metric range queries: also draw the result into FILE.svg (or .png): a line chart of up to 10 series with the highest means, a time axis, a legend and the query as title, for CI artifacts and reports; stdout prints as without it' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l step -d 'Step of a metric range query: a duration (5m) or seconds (300, 30.5) [default: as Loki, (to-from)/250 in whole seconds, at least 1s]. As Loki\'s query_range does, --from is rounded down and --to up to multiples of the step counted from the Unix epoch, and every step from one to the other is evaluated, --to included, so a Grafana panel on Loki shows the same points' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l boot-time -d 'Boot time for --timestamp-format dmesg (RFC 3339, unix seconds…) [default: this machine\'s]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l multiline-max-lines -d 'Most lines in one multiline entry' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l max-line-size -d 'Longest line accepted (Loki\'s max_line_size)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l max-labels-per-stream -d 'Most labels per stream (Loki\'s max_label_names_per_series)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l max-label-name-length -d 'Longest label name' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l max-label-value-length -d 'Longest label value' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l batch-size -d 'Memory for one batch of input: its bytes plus 96 per line and 160 per stream; peak RSS stays under about 2x this + 20MB' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l batch -d 'Entries per batch (logcli\'s --batch): with --addr, per request while --limit is not reached; the default and jsonl outputs leave out common labels and pad labels per batch, as logcli prints each response' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l addr -d 'A Grafana Loki to ask instead of the local store, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when given, else $LOKI_ORG_ID)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l username -d 'Username for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l password -d 'Password for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l bearer-token -d 'Bearer token for the Authorization header' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l auth-header -d 'Header the credentials go in' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l ca-cert -d 'CA certificates (PEM) to trust for https' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l cert -d 'Client certificate (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l key -d 'Client certificate\'s key (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l query-tags -d 'X-Query-Tags header' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l proxy-url -d 'An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l retries -d 'Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for queries, 10 for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l min-backoff -d 'First wait before a retry, doubled each time: a duration, or milliseconds as logcli [default: 500ms]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l max-backoff -d 'Longest wait before a retry (also caps Retry-After) [default: 5m]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l timeout -d 'Timeout of one request [default: 5m for queries, 10s for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l delay-for -d 'With --tail: hold entries this long from the first one held (seconds, or a duration such as 500ms), then print all that arrived meanwhile sorted by time (logcli\'s --delay-for)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -s l -l label -d 'With --stdin: label for the input stream, NAME=VALUE (repeatable)' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l timestamp-format -d 'With --stdin: timestamp layout, as for `ingest`' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l timestamp-regex -d 'With --stdin: regex whose group `ts` (or first group) holds the timestamp' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l year -d 'With --stdin: year for timestamps that have none (syslog) [default: this year]' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l multiline-start -d 'With --stdin: a line matching this regex starts a new entry; other lines join the current one' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l to -d 'End: RFC 3339, a date, unix seconds, or now-5m. Log lines before it are read; a metric range query\'s last step is at --to (rounded up to the step), as in Loki' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand query" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand query" -l forward -d 'Oldest first (default: newest first)'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l no-labels -d 'Print no labels (-o jsonl: no "labels" key)'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l include-common-labels -d 'Keep the labels all entries share on every line, -o jsonl included. Without it, as in logcli, they are left out of every line (and told once per batch on stderr as "Common labels:"), so `-o jsonl` to be ingested again (`lokal ingest --format logcli`) needs it'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l colored-output -d 'On a terminal, each label set in its own colour (logcli\'s palette) instead of red. Colours are used only when stdout is a terminal, NO_COLOR is unset and TERM is not dumb'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l chart -d 'Metric queries: a line chart of the series with the highest means (up to 6), with axes and a legend, in Braille characters; readable in a CI log (each series ends with its legend\'s marker). Fitted to $COLUMNS or the terminal\'s width. Not with -o json, jsonl, raw'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l unaligned -d 'Evaluate a metric range query at --from, --from + step, … up to --to, as given, instead of on Loki\'s epoch-aligned grid (Prometheus\' and Loki\'s engine\'s own grid)'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l stdin -d 'Query the lines on standard input instead of the store: they get real timestamps (detected as by `ingest`) and the labels of --label (default {job="stdin"}); no size limit, metric queries too. A query starting with | or ! gets the stdin selector prepended'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l truncate-long-lines -d 'Cut longer lines to --max-line-size instead of rejecting them'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l stats -d 'Query statistics on stderr: streams, chunks, blocks, bytes, lines, time per stage'
complete -c lokal -n "__fish_lokal_using_subcommand query" -s q -l quiet -d 'No messages on stderr (common labels, warnings)'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l allow-partial -d 'When part of the store cannot be read (a damaged block or segment), print what could be read instead of failing with exit 3; the damage is reported on stderr either way'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l tls-skip-verify -d 'Accept any server certificate'
complete -c lokal -n "__fish_lokal_using_subcommand query" -l nocache -d 'Send Cache-Control: no-cache'
complete -c lokal -n "__fish_lokal_using_subcommand query" -s t -s f -l tail -l follow -d 'Keep printing matching entries as other lokal processes commit them (ingest, ingest --follow, serve\'s push), until interrupted; starts with the last --limit entries of the range, oldest first, as logcli\'s --tail'
complete -c lokal -n "__fish_lokal_using_subcommand query" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand query" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l now -d 'Evaluation time: RFC 3339, unix seconds, or now-1h [default: now]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -s o -l output -d 'Output format' -r -f -a "default\t'Log queries: logcli\'s timestamp, labels (without the common ones), line; metric queries: summary on a terminal, else table'
raw\t'The line only'
jsonl\t'One JSON object per entry: labels, line, timestamp'
json\t'The body of Loki\'s /loki/api/v1/query_range response'
table\t'Metric queries: every step a row, every series a column, exact values (the default off a terminal); log queries: as default'
summary\t'Metric queries: one row per series with a sparkline and min/max/last/mean in readable numbers, fitted to the width (the default on a terminal); log queries: as default'"
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l plot -d 'Metric range queries: also draw the result into FILE.svg (or .png): a line chart of up to 10 series with the highest means, a time axis, a legend and the query as title, for CI artifacts and reports; stdout prints as without it' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l addr -d 'A Grafana Loki to ask instead of the local store, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when given, else $LOKI_ORG_ID)' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l username -d 'Username for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l password -d 'Password for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l bearer-token -d 'Bearer token for the Authorization header' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l auth-header -d 'Header the credentials go in' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l ca-cert -d 'CA certificates (PEM) to trust for https' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l cert -d 'Client certificate (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l key -d 'Client certificate\'s key (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l query-tags -d 'X-Query-Tags header' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l proxy-url -d 'An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l retries -d 'Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for queries, 10 for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l min-backoff -d 'First wait before a retry, doubled each time: a duration, or milliseconds as logcli [default: 500ms]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l max-backoff -d 'Longest wait before a retry (also caps Retry-After) [default: 5m]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l timeout -d 'Timeout of one request [default: 5m for queries, 10s for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -s z -l timezone -d 'Time zone for --now without an offset and for printing: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l chart -d 'Metric queries: a line chart of the series with the highest means (up to 6), with axes and a legend, in Braille characters; readable in a CI log (each series ends with its legend\'s marker). Fitted to $COLUMNS or the terminal\'s width. Not with -o json, jsonl, raw'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l allow-partial -d 'When part of the store cannot be read (a damaged block or segment), print what could be read instead of failing with exit 3; the damage is reported on stderr either way'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l tls-skip-verify -d 'Accept any server certificate'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l nocache -d 'Send Cache-Control: no-cache'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -l stats -d 'Query statistics on stderr'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -s q -l quiet -d 'No messages on stderr'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand instant-query" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand push" -l from -d 'Only entries from this time (inclusive): RFC 3339, a date, unix seconds' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l to -d 'Only entries before this time (exclusive)' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l format -d 'Body encoding' -r -f -a "protobuf\t'Protobuf + snappy, as promtail sends'
json\t'Loki\'s JSON push body'"
complete -c lokal -n "__fish_lokal_using_subcommand push" -l batch-size -d 'Most line and structured-metadata bytes per request (promtail\'s batchsize)' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l batch-entries -d 'Most entries per request' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -s o -l output -d 'Summary format' -r -f -a "table\t'A table'
json\t'One JSON object'"
complete -c lokal -n "__fish_lokal_using_subcommand push" -l username -d 'Username for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l password -d 'Password for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l bearer-token -d 'Bearer token for the Authorization header' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand push" -l auth-header -d 'Header the credentials go in' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l ca-cert -d 'CA certificates (PEM) to trust for https' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand push" -l cert -d 'Client certificate (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand push" -l key -d 'Client certificate\'s key (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand push" -l query-tags -d 'X-Query-Tags header' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l proxy-url -d 'An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l retries -d 'Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for queries, 10 for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l min-backoff -d 'First wait before a retry, doubled each time: a duration, or milliseconds as logcli [default: 500ms]' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l max-backoff -d 'Longest wait before a retry (also caps Retry-After) [default: 5m]' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l timeout -d 'Timeout of one request [default: 5m for queries, 10s for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l addr -d 'The Loki to send to, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when given, else $LOKI_ORG_ID)' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand push" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand push" -s q -l quiet -d 'No progress bar and no summary'
complete -c lokal -n "__fish_lokal_using_subcommand push" -l tls-skip-verify -d 'Accept any server certificate'
complete -c lokal -n "__fish_lokal_using_subcommand push" -l nocache -d 'Send Cache-Control: no-cache'
complete -c lokal -n "__fish_lokal_using_subcommand push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand push" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand index" -l day -d 'Rebuild only this UTC day (repeatable) [default: every day]' -r
complete -c lokal -n "__fish_lokal_using_subcommand index" -l lock-timeout -d 'Give up if another writer holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand index" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand index" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand index" -l all-tenants -d 'Every tenant instead of --tenant\'s'
complete -c lokal -n "__fish_lokal_using_subcommand index" -s q -l quiet -d 'No summary table'
complete -c lokal -n "__fish_lokal_using_subcommand index" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand index" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l day -d 'Only this UTC day (repeatable) [default: every day]' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l from -d 'Only days from this time (RFC 3339, a date, unix seconds, now-7d)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l to -d 'Only days before this time' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l retention -d 'Keep entries this long (Loki\'s retention_period; 0: for ever)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l retention-stream -d 'Keep a stream\'s entries this long: SELECTOR=PERIOD or SELECTOR=PERIOD@PRIORITY (Loki\'s retention_stream; repeatable)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l config -d 'Retention rules from a YAML file (see below)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l segment-size -d 'Line bytes per output segment (the merge holds about this much in memory)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l block-size -d 'Line bytes per block (as ingest\'s; larger compress better, but queries decompress more per line)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l compression-level -d 'zstd level of the blocks written (ingest uses 3)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l now -d 'Apply retention as of this time instead of now (to try a policy)' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l lock-timeout -d 'Give up if another writer or compaction holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -s o -l output -d 'Summary format' -r -f -a "table\t'A table per tenant'
json\t'One JSON object per tenant (a JSON array with --all-tenants)'"
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l all-tenants -d 'Every tenant instead of --tenant\'s'
complete -c lokal -n "__fish_lokal_using_subcommand compact" -l dry-run -d 'Change nothing: print what would be compacted and removed (streams, entries, bytes)'
complete -c lokal -n "__fish_lokal_using_subcommand compact" -s q -l quiet -d 'No progress bar and no summary'
complete -c lokal -n "__fish_lokal_using_subcommand compact" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand compact" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l from -d 'First time deleted, included (RFC 3339, a date, unix seconds, now-2h)' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l to -d 'Last time deleted, included [default: now]' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l cancel -d 'Cancel a pending request by its id' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -s o -l output -d 'Format of --list' -r -f -a "table\t'A table'
json\t'A JSON array'"
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l lock-timeout -d 'Give up if another writer holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l now -d 'Apply the request at once: compact the days it covers'
complete -c lokal -n "__fish_lokal_using_subcommand delete" -s y -l yes -d 'Do not ask for confirmation'
complete -c lokal -n "__fish_lokal_using_subcommand delete" -l list -d 'List the requests, pending and processed'
complete -c lokal -n "__fish_lokal_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand delete" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l since -d 'Look back this far from now (e.g. 1h, 2d). Without --since/--from/--to the whole store is searched (a query: the time range of the streams it selects): a local store holds what was put in it, so logcli\'s 1h default would hide yesterday\'s CI logs' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l from -d 'Start (inclusive): RFC 3339, a date, unix seconds, or now-2h' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l to -d 'End (exclusive): RFC 3339, a date, unix seconds, or now-5m' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l addr -d 'A Grafana Loki to ask instead of the local store, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when given, else $LOKI_ORG_ID)' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l username -d 'Username for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l password -d 'Password for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l bearer-token -d 'Bearer token for the Authorization header' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l auth-header -d 'Header the credentials go in' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l ca-cert -d 'CA certificates (PEM) to trust for https' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l cert -d 'Client certificate (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l key -d 'Client certificate\'s key (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l query-tags -d 'X-Query-Tags header' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l proxy-url -d 'An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l retries -d 'Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for queries, 10 for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l min-backoff -d 'First wait before a retry, doubled each time: a duration, or milliseconds as logcli [default: 500ms]' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l max-backoff -d 'Longest wait before a retry (also caps Retry-After) [default: 5m]' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l timeout -d 'Timeout of one request [default: 5m for queries, 10s for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l allow-partial -d 'When part of the store cannot be read (a damaged block or segment), print what could be read instead of failing with exit 3; the damage is reported on stderr either way'
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l tls-skip-verify -d 'Accept any server certificate'
complete -c lokal -n "__fish_lokal_using_subcommand labels" -l nocache -d 'Send Cache-Control: no-cache'
complete -c lokal -n "__fish_lokal_using_subcommand labels" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand labels" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand series" -l since -d 'Look back this far from now (e.g. 1h, 2d). Without --since/--from/--to the whole store is searched (a query: the time range of the streams it selects): a local store holds what was put in it, so logcli\'s 1h default would hide yesterday\'s CI logs' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l from -d 'Start (inclusive): RFC 3339, a date, unix seconds, or now-2h' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l to -d 'End (exclusive): RFC 3339, a date, unix seconds, or now-5m' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l addr -d 'A Grafana Loki to ask instead of the local store, e.g. http://localhost:3100 (X-Scope-OrgID: --tenant/--org-id when given, else $LOKI_ORG_ID)' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l username -d 'Username for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l password -d 'Password for HTTP basic auth' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l bearer-token -d 'Bearer token for the Authorization header' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand series" -l auth-header -d 'Header the credentials go in' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l ca-cert -d 'CA certificates (PEM) to trust for https' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand series" -l cert -d 'Client certificate (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand series" -l key -d 'Client certificate\'s key (PEM)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand series" -l query-tags -d 'X-Query-Tags header' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l proxy-url -d 'An http(s) proxy [default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY]' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l retries -d 'Retries of a request Loki answers with 429 or 5xx, or does not answer [default: 0 for queries, 10 for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l min-backoff -d 'First wait before a retry, doubled each time: a duration, or milliseconds as logcli [default: 500ms]' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l max-backoff -d 'Longest wait before a retry (also caps Retry-After) [default: 5m]' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l timeout -d 'Timeout of one request [default: 5m for queries, 10s for push]' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand series" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand series" -l analyze-labels -d 'Print a cardinality summary per label instead of the streams (as logcli)'
complete -c lokal -n "__fish_lokal_using_subcommand series" -l allow-partial -d 'When part of the store cannot be read (a damaged block or segment), print what could be read instead of failing with exit 3; the damage is reported on stderr either way'
complete -c lokal -n "__fish_lokal_using_subcommand series" -l tls-skip-verify -d 'Accept any server certificate'
complete -c lokal -n "__fish_lokal_using_subcommand series" -l nocache -d 'Send Cache-Control: no-cache'
complete -c lokal -n "__fish_lokal_using_subcommand series" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand series" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand stats" -s o -l output -d 'Output format' -r -f -a "table\t'A table'
json\t'A JSON array of objects'"
complete -c lokal -n "__fish_lokal_using_subcommand stats" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand stats" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand stats" -l all-tenants -d 'Every tenant instead of --tenant\'s'
complete -c lokal -n "__fish_lokal_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand stats" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand test" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand test" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand test" -s v -l verbose -d 'Print every case, not only failures'
complete -c lokal -n "__fish_lokal_using_subcommand test" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand test" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand check" -l lock-timeout -d 'With --repair: give up if another writer holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand check" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand check" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand check" -l repair -d 'Repair what was found (see below); never deletes data'
complete -c lokal -n "__fish_lokal_using_subcommand check" -l all-tenants -d 'Every tenant instead of --tenant\'s'
complete -c lokal -n "__fish_lokal_using_subcommand check" -s q -l quiet -d 'Print only problems (no notes, no summary)'
complete -c lokal -n "__fish_lokal_using_subcommand check" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand check" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand verify" -l lock-timeout -d 'With --repair: give up if another writer holds the store longer than this [default: wait]' -r
complete -c lokal -n "__fish_lokal_using_subcommand verify" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand verify" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand verify" -l repair -d 'Repair what was found (see below); never deletes data'
complete -c lokal -n "__fish_lokal_using_subcommand verify" -l all-tenants -d 'Every tenant instead of --tenant\'s'
complete -c lokal -n "__fish_lokal_using_subcommand verify" -s q -l quiet -d 'Print only problems (no notes, no summary)'
complete -c lokal -n "__fish_lokal_using_subcommand verify" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand verify" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -f -a "check" -d 'Check rule files as Loki\'s ruler and `lokitool rules check` do'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -f -a "lint" -d 'Report (or --fix) expressions that are not in canonical LogQL, as `lokitool rules lint`'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -f -a "eval" -d 'Evaluate rules over the store: alerts at a time, or a backtest over a range'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -f -a "test" -d 'Run unit tests for rules (promtool\'s `test rules` format, with log streams as input)'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and not __fish_seen_subcommand_from check lint eval test help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from check" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from check" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from check" -l strict -d 'Recording rule names need two colons (level:metric:operation), as `lokitool rules check --strict`'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from lint" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from lint" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from lint" -l fix -d 'Rewrite the files with canonical expressions'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from lint" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from lint" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l at -d 'Evaluate at this time (each group at its last evaluation at or before it) [default: now]' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l from -d 'Backtest from this time (with --to)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l to -d 'Backtest up to this time, included' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -s o -l output -d 'Output format' -r -f -a "table\t'Alerts (and recorded series) as a table; over a range, one row per alert'
timeline\t'Over a range: every transition in time order'
json\t'At one time: Alertmanager\'s PostableAlert array of the firing alerts; over a range: the alerts\' lives'"
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -s z -l timezone -d 'Time zone for printing and for --from/--to without an offset: Local, UTC or an IANA name' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l evaluation-interval -d 'Interval of groups without one (Loki\'s ruler.evaluation-interval)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l external-label -d 'Label added to alerts and recordings, NAME=VALUE (repeatable); also $externalLabels' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l external-url -d 'Base URL of generatorURL links and $externalURL (Loki\'s ruler.external.url, a Grafana)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l datasource-uid -d 'Grafana data source UID put in generatorURL links (Loki\'s ruler.datasource-uid)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l resend-delay -d 'With the group interval, how long a sent alert stays valid: endsAt = evaluation + 4 × max(interval, this)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l max-lookback -d 'Furthest back alert state is replayed' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager -d 'Send firing and resolved alerts to this Alertmanager (repeatable, or comma-separated as in Loki)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-basic-auth -d 'Basic auth for Alertmanager, USER:PASSWORD (user info in the URL wins)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-bearer-token -d 'Bearer token for Alertmanager' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-bearer-token-file -d 'File holding the bearer token' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-ca-file -d 'CA certificates (PEM) to trust for https Alertmanagers' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-timeout -d 'Timeout of one request to Alertmanager' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l alertmanager-retries -d 'Retries after a failed request (connection errors, 429, 5xx), with doubling backoff from 500ms' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l record -d 'Write what recording rules recorded to FILE (`-` for stdout)' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l record-format -d 'Format of --record' -r -f -a "auto\t'openmetrics over a range, textfile at one time'
openmetrics\t'OpenMetrics with timestamps (promtool tsdb create-blocks-from openmetrics)'
textfile\t'Prometheus text format without timestamps (node_exporter\'s textfile collector)'
jsonl\t'JSON lines in Prometheus\' query API sample shape'"
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l allow-partial -d 'When part of the store cannot be read (a damaged block or segment), print what could be read instead of failing with exit 3; the damage is reported on stderr either way'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -l dry-run -d 'Print the exact JSON that would be posted, and post nothing'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -s q -l quiet -d 'No notes on stderr'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from eval" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -l junit -d 'Write the results as JUnit XML to FILE' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -l run -d 'Run only tests whose name matches this regex (repeatable)' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -s v -l verbose -d 'Print passing checks too'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from test" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check rule files as Loki\'s ruler and `lokitool rules check` do'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "lint" -d 'Report (or --fix) expressions that are not in canonical LogQL, as `lokitool rules lint`'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "eval" -d 'Evaluate rules over the store: alerts at a time, or a backtest over a range'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "test" -d 'Run unit tests for rules (promtool\'s `test rules` format, with log streams as input)'
complete -c lokal -n "__fish_lokal_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l listen -d 'Address to listen on; loopback by default (port 0 picks a free one)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l workers -d 'Threads answering requests' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-body -d 'Largest request body accepted (bytes, or 4MB, 100MiB, …), as Loki\'s server.grpc_max_recv_msg_size' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-line-size -d 'Longest pushed line accepted, 0 for no limit (Loki\'s max_line_size)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-labels-per-stream -d 'Most labels per pushed stream (Loki\'s max_label_names_per_series)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-label-name-length -d 'Longest label name (Loki\'s max_label_name_length)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-label-value-length -d 'Longest label value (Loki\'s max_label_value_length)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l creation-grace-period -d 'Refuse pushed entries further in the future than this, "off" for no check (Loki\'s creation_grace_period)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l reject-old-samples-max-age -d 'Refuse pushed entries older than this (Loki\'s reject_old_samples_max_age); without it any age is stored, as `lokal ingest` stores old logs' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l lock-timeout -d 'How long a push waits for another writer (a running `lokal ingest`) before it is answered 503, which Loki\'s clients retry' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l basic-auth -d 'Require HTTP basic auth with these credentials (USER:PASSWORD; prefer --basic-auth-file or the environment to keep it out of `ps`)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l basic-auth-file -d 'Read USER:PASSWORD for basic auth from this file' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l bearer-token -d 'Require `Authorization: Bearer TOKEN` (either credential is accepted when both are set)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l bearer-token-file -d 'Read the bearer token from this file' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-entries-limit-per-query -d 'Largest `limit` a log query may ask for, 0 for none (Loki\'s max_entries_limit_per_query)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-query-series -d 'Most series a metric query may return, 0 for none (Loki\'s max_query_series)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l query-timeout -d 'Answer 504 to a query still running after this, "off" for no limit (Loki\'s query_timeout)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l max-tails -d 'Most live tails (/loki/api/v1/tail) at once, 0 for no limit (Loki\'s max_concurrent_tail_requests)' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand serve" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand serve" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand serve" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand fmt" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand fmt" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand fmt" -l pretty -d 'Print the multi-line form (as `logcli fmt` does)'
complete -c lokal -n "__fish_lokal_using_subcommand fmt" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand fmt" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand completions" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand completions" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lokal -n "__fish_lokal_using_subcommand completions" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand man" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand man" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand man" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand man" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand dump" -l store -d 'Store directory [default: $XDG_DATA_HOME/lokal or ~/.local/share/lokal]' -r -F
complete -c lokal -n "__fish_lokal_using_subcommand dump" -l tenant -d 'Tenant (Loki\'s org id) to read or write' -r
complete -c lokal -n "__fish_lokal_using_subcommand dump" -s h -l help -d 'Print help'
complete -c lokal -n "__fish_lokal_using_subcommand dump" -s V -l version -d 'Print version'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "ingest" -d 'Read log files, globs, directories or stdin into the store'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "query" -d 'Run a LogQL query (log or metric) over the store'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "instant-query" -d 'Evaluate a LogQL metric query at one instant'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "push" -d 'Send stored streams to a Grafana Loki (protobuf+snappy or JSON), resuming from a checkpoint'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "index" -d 'Rebuild the label index of every day, or of the given days'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "compact" -d 'Merge each day\'s small segments, apply retention and pending deletes (for cron)'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "delete" -d 'Delete entries (a selector with line filters, a time range), as Loki\'s delete API'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "labels" -d 'List label names, or the values of one label'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "series" -d 'List the streams a selector matches (--analyze-labels: cardinality per label)'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "stats" -d 'Per tenant and day: streams, entries, segments, block sizes, bytes, time range, whether compact helps'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "test" -d 'Unit-test LogQL with Loki\'s .logqltest scripts'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "check" -d 'Check the whole store (manifest, every segment block, indexes); --repair fixes it'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "rules" -d 'Alerting and recording rules: check, lint, evaluate (alerts to Alertmanager), test'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "serve" -d 'Serve Loki\'s HTTP API over the store (query, labels, series, push) for Loki\'s clients'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "fmt" -d 'Parse a LogQL query and print its canonical form'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish)'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "man" -d 'Write man pages into a directory'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "dump" -d 'Print every stored entry (debugging aid)'
complete -c lokal -n "__fish_lokal_using_subcommand help; and not __fish_seen_subcommand_from ingest query instant-query push index compact delete labels series stats test check rules serve fmt completions man dump help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lokal -n "__fish_lokal_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "check" -d 'Check rule files as Loki\'s ruler and `lokitool rules check` do'
complete -c lokal -n "__fish_lokal_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "lint" -d 'Report (or --fix) expressions that are not in canonical LogQL, as `lokitool rules lint`'
complete -c lokal -n "__fish_lokal_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "eval" -d 'Evaluate rules over the store: alerts at a time, or a backtest over a range'
complete -c lokal -n "__fish_lokal_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "test" -d 'Run unit tests for rules (promtool\'s `test rules` format, with log streams as input)'
