;; Well-formed items tree-sitter still built inside an ERROR node (parse.error_bytes):
;; what the analysis uses (functions, struct definitions) or has no use for anyway
;; (preprocessor lines, comments, prototypes) is not counted as lost.
(function_definition) @item
(struct_specifier body: (_)) @item
(union_specifier body: (_)) @item
(enum_specifier body: (_)) @item
(type_definition) @item
(declaration) @item
(preproc_def) @item
(preproc_function_def) @item
(preproc_include) @item
(preproc_call) @item
(comment) @item
