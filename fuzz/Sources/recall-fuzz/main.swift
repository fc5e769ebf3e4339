// SwiftPM links an executable's entry point as `main`, so libFuzzer's own main is not used: this
// one picks the harness and hands the command line to libFuzzer's driver.
import Foundation

nonisolated(unsafe) var selected: Harness?

/// Picks the harness named by RECALL_FUZZ_HARNESS (main.swift calls it before libFuzzer starts).
func selectHarness() {
    let name = ProcessInfo.processInfo.environment["RECALL_FUZZ_HARNESS"] ?? ""
    guard let h = Harnesses.all[name] else {
        let names = Harnesses.all.keys.sorted().joined(separator: " ")
        fputs("recall-fuzz: set RECALL_FUZZ_HARNESS to one of: \(names)\n", stderr)
        exit(2)
    }
    selected = h
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected!(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

selectHarness()
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
