# Stand-in for web2py's gluon package (Eden Deploy's install test).
