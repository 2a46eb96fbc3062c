// Command gstvision turns IP cameras into live, GPU-analysed video. See README.md.
package main

import "os"

func main() { os.Exit(execute(os.Args[1:], os.Stderr)) }
