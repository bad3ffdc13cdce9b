;; Parse damage (parse.error_bytes, facts.FileFacts.error_bytes): every ERROR node.
(ERROR) @error
