;; Parse damage: every ERROR node (facts.FileFacts.error_bytes, parse.error_bytes).
(ERROR) @error
