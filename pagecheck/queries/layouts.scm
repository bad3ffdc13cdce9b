; Struct definitions with a body: the layout reader (pagecheck/layouts.py)
; picks struct page and the descriptor structs that overlay it.
(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list) @body) @struct
