/** Process entry of the CLI (bin/shipshape runs the compiled copy; the lab and tests can run this one directly). */
import { main } from './main';

main(process.argv).then((code) => {
  process.exitCode = code;
});
