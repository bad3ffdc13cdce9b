; Top-level shapes: function definitions and struct definitions.
; Run over the whole file; everything else runs per relevant function.

(function_definition
  type: (_) @rtype
  declarator: (_) @decl
  body: (compound_statement) @body) @function

(struct_specifier
  name: (type_identifier) @sname
  body: (field_declaration_list) @sbody) @struct
