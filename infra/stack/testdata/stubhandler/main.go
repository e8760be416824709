// Command stubhandler stands in for a handler package that does not exist yet, only when
// the infra tests run with -stub-missing (a development aid while other packages are
// being written). The real tests run without it and build every lambdas/<name>/cmd.
package main

func main() {}
