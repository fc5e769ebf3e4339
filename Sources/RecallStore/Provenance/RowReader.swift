import Foundation
import RecallTensor

/// Reads one row of registry.sqlite into a record. A missing or unknown value is damage to the
/// database, not a default: it throws, naming the table, the row and the column, instead of
/// turning into a `0`, an empty string or a guessed state that would hide it.
struct RowReader {
    let row: SQLRow
    let table: String
    /// The column that identifies the row in messages (`id`, `number`).
    let key: String

    init(_ row: SQLRow, table: String, key: String = "id") {
        self.row = row
        self.table = table
        self.key = key
    }

    func damage(_ column: String, _ what: String) -> RecallError {
        let rowName = row[key].int.map { "\(key) \($0)" } ?? "a row"
        return RecallError(.io, "registry.sqlite: \(table) \(rowName) has \(what) in `\(column)`; the home is damaged: verify it and restore it from a backup")
    }

    func int(_ column: String) throws -> Int {
        guard let v = row[column].int else { throw damage(column, "no integer") }
        return v
    }

    func double(_ column: String) throws -> Double {
        guard let v = row[column].double else { throw damage(column, "no number") }
        return v
    }

    func text(_ column: String) throws -> String {
        guard let v = row[column].text else { throw damage(column, "no text") }
        return v
    }

    /// A value of a closed set (a state, a kind).
    func value<E: RawRepresentable>(_ column: String, as _: E.Type = E.self) throws -> E where E.RawValue == String {
        let raw = try text(column)
        guard let v = E(rawValue: raw) else { throw damage(column, "the unknown value '\(raw)'") }
        return v
    }

    /// A JSON document, or nil when the column is NULL.
    func json(_ column: String) throws -> JSONValue? {
        guard case let .text(text) = row[column] else {
            if case .null = row[column] { return nil }
            throw damage(column, "no JSON text")
        }
        do { return try JSONValue.parse(Data(text.utf8)) } catch { throw damage(column, "JSON that does not parse (\(error))") }
    }

    /// An optional number: NULL is nil, anything else must be a number.
    func optionalDouble(_ column: String) throws -> Double? {
        if case .null = row[column] { return nil }
        return try double(column)
    }

    /// An optional integer: NULL is nil, anything else must be an integer.
    func optionalInt(_ column: String) throws -> Int? {
        if case .null = row[column] { return nil }
        return try int(column)
    }
}
