/// The version printed by both binaries and written into provenance metadata.
public enum RecallVersion {
    public static let string = "0.1.0"
}
