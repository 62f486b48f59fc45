import Foundation
import ArgumentParser
/// Environment variables as fallbacks for command-line options, read in this one place.
///
/// Each option of a process may be given as `PATCHWORK_…` in the environment; a value on the
/// command line wins. The fallbacks are turned into arguments before parsing, so every default
/// stays written where its option is declared and parsing errors read the same either way.
public struct EnvironmentOption: Sendable {
    public enum Kind: Sendable {
        /// `--name value`.
        case value
        /// `--name value`, repeatable: the variable holds a comma-separated list.
        case list
        /// `--name` alone: `1`, `true` or `yes` turn it on.
        case flag
    }

    public let option: String
    public let variable: String
    public let kind: Kind

    public init(_ option: String, _ variable: String, _ kind: Kind = .value) {
        self.option = option
        self.variable = variable
        self.kind = kind
    }

    /// `arguments` plus one argument (or several, for a list) for each option that the command
    /// line does not set and the environment does.
    public static func apply(
        _ options: [EnvironmentOption], to arguments: [String], environment: [String: String]
    ) -> [String] {
        var result = arguments
        for option in options {
            let flag = "--\(option.option)"
            let givenOnCommandLine = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            guard !givenOnCommandLine, let raw = environment[option.variable], !raw.isEmpty else { continue }
            switch option.kind {
            case .value: result += [flag, raw]
            case .list:
                for item in raw.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
                    result += [flag, item.trimmingCharacters(in: .whitespaces)]
                }
            case .flag:
                if ["1", "true", "yes", "on"].contains(raw.lowercased()) { result.append(flag) }
            }
        }
        return result
    }
}

extension EnvironmentOption {
    /// The table as a command's help shows it (its `discussion`): the one place each variable is
    /// written is the table, and the help is made from it.
    public static func help(_ options: [EnvironmentOption]) -> String {
        let width = (options.map(\.variable.count).max() ?? 0) + 2
        let lines = options.sorted { $0.variable < $1.variable }.map { option in
            let pad = String(repeating: " ", count: max(1, width - option.variable.count))
            let note = switch option.kind {
            case .value: ""
            case .list: " (comma-separated for several)"
            case .flag: " (1, true, yes or on)"
            }
            return "  \(option.variable)\(pad)--\(option.option)\(note)"
        }
        return "Environment: each variable sets its option when the command line does not.\n" + lines.joined(separator: "\n")
    }

    /// Variables of `options` that do not reach an option of `Command`: setting one (to the
    /// first of `samples` that the option accepts) must parse and change the parsed command.
    /// `required` are the options (and values) the command cannot parse without; the one under
    /// test is left out of them. Empty when all reach.
    public static func unreachable<Command: ParsableArguments>(
        _ options: [EnvironmentOption], in command: Command.Type, required: [(option: String, value: String)] = [],
        samples: [String] = ["7", "64", "0.5", "debug", "tcp://127.0.0.1:9", "/tmp/patchwork-env", "file", "sample"]
    ) -> [String] {
        options.filter { option in
            let base = required.filter { $0.option != option.option }.flatMap { ["--\($0.option)", $0.value] }
            let withSample = required.contains { $0.option == option.option }
            let candidates = option.kind == .flag ? ["1"] : samples
            return !candidates.contains { sample in
                let arguments = apply([option], to: base, environment: [option.variable: sample])
                guard arguments != base, let parsed = try? Command.parse(arguments) else { return false }
                // A required option reaches it when it parses at all; others must change the value.
                if withSample { return true }
                guard let baseline = try? Command.parse(base) else { return false }
                return String(describing: parsed) != String(describing: baseline)
            }
        }.map(\.variable)
    }
}

/// A command whose options fall back to `PATCHWORK_*` environment variables.
public protocol EnvironmentConfigurable: AsyncParsableCommand {
    /// The option ↔ variable table, one entry per option that has a fallback.
    static var environment: [EnvironmentOption] { get }
}

extension EnvironmentConfigurable {
    /// Parses the command line, with the environment as fallback, and runs the command.
    public static func mainWithEnvironment() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // The fallbacks belong to the command itself, not to its subcommands.
        let subcommands = configuration.subcommands.map { $0._commandName }
        if !(arguments.first.map(subcommands.contains) ?? false) {
            arguments = EnvironmentOption.apply(environment, to: arguments, environment: ProcessInfo.processInfo.environment)
        }
        await main(arguments)
    }
}

/// A default identity for a process in logs and cluster views: role, host name, random suffix.
public func defaultProcessID(role: String) -> String {
    "\(role)-\(ProcessInfo.processInfo.hostName)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
}
