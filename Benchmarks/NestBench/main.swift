import Foundation

let usageText = """
    usage: nest-bench <command> [options]

    commands:
      scenario FILE|DIR... [--out DIR]   run differential-test scenarios (scenario-format.md)
      trace PATH.json.gz [--json] [--runs N] [--client-id ID] [--one-transaction]
                                         replay an editing trace and measure the CRDT engine
      concurrent PATH.json.gz [--json] [--runs N]
                                         replay a concurrent trace: an agent per replica, forked and merged by its parents
      client [--documents N] [--edits N] [--json]
                                         client core: edit latency, cold open, reconnect vs full re-sync
      rooms PATH.json.gz [--rooms N] [--edits M] [--json]
                                         server memory per open document, against its encoded size
      server [--clients K] [--seconds S] [--rate R] [--server nest|yws|floor] [--floor] [--json]
                                         load: K y-websocket clients against nest-server and Debian's y-websocket server
                                         (--floor: and against two bare relays, the least any relay costs)
      jobs [--database-url URL] [--jobs N] [--idle-samples N] [--ai-requests N] [--projection-rate R] [--projection-seconds S] [--json]
                                         the job engine: queue throughput on two PostgreSQL workers, idle start (NOTIFY and
                                         the poll alone), AI result latency, projection lag under load
      push [--samples N] [--notifications N] [--concurrency C] [--json]
                                         the push relay: commit-to-provider latency of a mention, and the queue's drain
                                         rate to a local APNs (HTTP/2) and Web Push service against each provider alone
      relay-floor [--port P] [--threads N]
                                         the bare relay that --floor measures (no document, store or auth)
      --help                             this text
      --version                          print the version
    """

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "scenario":
    exit(ScenarioCommand.run(Array(arguments.dropFirst())))
case "trace":
    exit(TraceCommand.run(Array(arguments.dropFirst())))
case "concurrent":
    exit(ConcurrentTraceCommand.run(Array(arguments.dropFirst())))
case "client":
    exit(await ClientBenchCommand.run(Array(arguments.dropFirst())))
case "rooms":
    exit(await RoomMemoryCommand.run(Array(arguments.dropFirst())))
case "server":
    exit(await ServerBenchCommand.run(Array(arguments.dropFirst())))
case "jobs":
    exit(await JobsBenchCommand.run(Array(arguments.dropFirst())))
case "push":
    exit(await PushBenchCommand.run(Array(arguments.dropFirst())))
case "relay-floor":
    exit(await RelayFloorCommand.run(Array(arguments.dropFirst())))
case "--version":
    print("nest-bench 0.1.0")
case "--help", "-h", "help":
    print(usageText)
default:
    FileHandle.standardError.write(Data((usageText + "\n").utf8))
    exit(2)
}
