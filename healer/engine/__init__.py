"""The decision engine: match signals to runbooks, decide under guards, act, audit."""
