// Entry point of the Pulumi program: the stack's role (`cdm:role`) selects the provider or tenant
// stack, and the returned object becomes the stack's outputs.
import { runProgram } from "./components/program";

export = runProgram();
