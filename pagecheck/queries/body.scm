; Facts inside one function body (the cursor is limited to its byte range).
; Pattern order matters: facts.py dispatches on the pattern index.

; 0: local declarations (types of locals)
(declaration) @decl

; 1: field accesses  x->f  x.f
(field_expression
  argument: (_) @object
  field: (field_identifier) @field) @access

; 2: calls by name
(call_expression
  function: (identifier) @callee
  arguments: (argument_list) @args) @call

; 3: assignments  a = b,  a |= b ...
(assignment_expression
  left: (_) @lhs
  right: (_) @rhs) @assign

; 4: initialised declarators  T *a = b
(init_declarator
  declarator: (_) @lhs
  value: (_) @rhs) @init

; 5: if statements (narrowing and guard clauses)
(if_statement
  condition: (_) @cond
  consequence: (_) @then) @if

; 6: ternaries (narrowing)
(conditional_expression
  condition: (_) @cond
  consequence: (_) @then
  alternative: (_) @else) @ternary

; 7: returns
(return_statement (_) @value) @return

; 8: x->f++ / --x->f count as writes
(update_expression
  argument: (field_expression) @target) @update

; 9: switch statements: cases that end in break/return are exclusive paths
(switch_statement
  body: (compound_statement) @cases) @switch
