"""What every blueprint's views share: request arguments (args), form re-rendering (forms), downloads and the
bulk-read trail (exports), links built once (urls), template filters (filters) and what wraps every request
(hooks: clock, headers, request log). Who may do what is tracker.auth's."""
