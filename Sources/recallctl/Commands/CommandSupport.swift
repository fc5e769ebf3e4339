import ArgumentParser
import Foundation
import RecallTensor

/// Runs a command body, turning our failures into one line on stderr and exit code 1.
/// Usage problems stay `ValidationError`s (exit 2), which ArgumentParser reports itself.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as RecallError {
        FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
        throw ExitCode(1)
    } catch let e as ValidationError {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Prints a JSON value followed by a newline.
func printJSON(_ value: JSONValue) {
    print(value.serialized(pretty: true))
}

extension DType: ExpressibleByArgument {
    public init?(argument: String) { self.init(userSpelling: argument) }
    public static var allValueStrings: [String] { ["f32", "f16", "bf16"] }
}

/// Refuses to write over an existing file or a non-empty directory unless `force`.
func refuseToClobber(_ url: URL, force: Bool) throws {
    var isDir: ObjCBool = false
    guard !force, FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return }
    let nonEmpty = !isDir.boolValue || !((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).isEmpty
    if nonEmpty {
        throw RecallError(.invalidArgument, "\(url.path): already exists and is not empty; pass --force to overwrite or choose another path")
    }
}
